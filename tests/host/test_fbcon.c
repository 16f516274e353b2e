/*
 * Host tests of kernel/fbcon.c: the console draws into a plain buffer (or the shim's
 * fake physical memory for fbcon_init) and the tests read the pixels back and compare
 * them with the font's bitmaps.
 */
#include <stdlib.h>

#include "check.h"
#include "kernel/boot.h"
#include "kernel/console.h"
#include "kernel/fbcon.h"
#include "kernel/font.h"
#include "mm/paging.h"
#include "shim.h"
#include "arch/mmu.h"

#define PADDING_BYTE 0xee
#define RGB_NORMAL 0xaaaaaa
#define RGB_RED 0xff5555

/* ---- stand-ins for the kernel services fbcon_init uses ---------------------------- */

static struct boot_info fake_boot_info;
static struct kernel_options fake_options;
static console_write_fn registered_sink;
static int register_calls;

const struct boot_info *boot_info(void)
{
    return &fake_boot_info;
}

/* The kernel maps the framebuffer in its device region; here it is fake RAM. */
void *paging_map_device(phys_addr_t pa, size_t bytes, unsigned flags)
{
    (void)bytes;
    (void)flags;
    return arch_phys_to_virt(pa.value);
}

const struct kernel_options *boot_options(void)
{
    return &fake_options;
}

int console_register(console_write_fn write)
{
    register_calls++;
    registered_sink = write;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static struct fbcon con;

/* x8r8g8b8-style layout at 32 bpp, or with red in the low byte (b8g8r8 in memory
 * order reversed) at 24 bpp, so both shift orders are covered. */
static struct boot_framebuffer make_fb(uint8_t bpp, uint32_t columns, uint32_t rows,
                                       uint32_t extra_pixels, uint32_t extra_pitch)
{
    struct boot_framebuffer fb = {0};
    fb.kind = FB_KIND_RGB;
    fb.bpp = bpp;
    fb.width = columns * FONT_WIDTH + extra_pixels;
    fb.height = rows * FONT_HEIGHT + extra_pixels;
    fb.pitch_bytes = fb.width * (bpp / 8) + extra_pitch;
    fb.red_bits = fb.green_bits = fb.blue_bits = 8;
    fb.green_shift = 8;
    if (bpp == 32) {
        fb.red_shift = 16;
        fb.blue_shift = 0;
    } else {
        fb.red_shift = 0;
        fb.blue_shift = 16;
    }
    return fb;
}

static uint8_t *make_pixels(const struct boot_framebuffer *fb)
{
    size_t size = (size_t)fb->pitch_bytes * fb->height;
    uint8_t *pixels = malloc(size);
    memset(pixels, PADDING_BYTE, size);
    return pixels;
}

static uint32_t read_pixel(const struct boot_framebuffer *fb, const uint8_t *pixels, uint32_t x,
                           uint32_t y)
{
    const uint8_t *p = pixels + (size_t)y * fb->pitch_bytes + (size_t)x * (fb->bpp / 8);
    uint32_t value = 0;
    for (int b = 0; b < fb->bpp / 8; b++)
        value |= (uint32_t)p[b] << (8 * b);
    return value;
}

/* 0xRRGGBB in the test framebuffer's layout, worked out independently of fbcon. */
static uint32_t expected_pixel(const struct boot_framebuffer *fb, uint32_t rgb)
{
    return ((rgb >> 16) & 0xff) << fb->red_shift | ((rgb >> 8) & 0xff) << fb->green_shift |
           (rgb & 0xff) << fb->blue_shift;
}

/* Whether the cell at (row, column) shows `ch` in colour `rgb` on black. */
static bool cell_shows(const struct boot_framebuffer *fb, const uint8_t *pixels, uint32_t row,
                       uint32_t column, uint8_t ch, uint32_t rgb)
{
    const uint8_t *glyph = font_glyphs[ch < FONT_GLYPH_COUNT ? ch : 0];
    for (uint32_t y = 0; y < FONT_HEIGHT; y++) {
        for (uint32_t x = 0; x < FONT_WIDTH; x++) {
            bool ink = glyph[y] & (0x80 >> x);
            uint32_t want = ink ? expected_pixel(fb, rgb) : 0;
            if (read_pixel(fb, pixels, column * FONT_WIDTH + x, row * FONT_HEIGHT + y) != want)
                return false;
        }
    }
    return true;
}

/* Whether row `row` reads `text` followed by blank cells. */
static bool row_shows(const struct boot_framebuffer *fb, const uint8_t *pixels, uint32_t row,
                      const char *text)
{
    size_t len = strlen(text);
    for (uint32_t column = 0; column < fb->width / FONT_WIDTH; column++) {
        uint8_t ch = column < len ? (uint8_t)text[column] : ' ';
        if (!cell_shows(fb, pixels, row, column, ch, RGB_NORMAL))
            return false;
    }
    return true;
}

static void write_str(const char *text)
{
    fbcon_write(&con, text, strlen(text));
}

/* ---- tests --------------------------------------------------------------------- */

static void test_glyph_pixels_match_font_at_32bpp_odd_pitch(void)
{
    struct boot_framebuffer fb = make_fb(32, 5, 3, 3, 7);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("A~g");
    CHECK(cell_shows(&fb, pixels, 0, 0, 'A', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 1, '~', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 2, 'g', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 3, ' ', RGB_NORMAL));
    CHECK(row_shows(&fb, pixels, 1, ""));
    free(pixels);
}

static void test_glyph_pixels_match_font_at_24bpp_odd_pitch(void)
{
    struct boot_framebuffer fb = make_fb(24, 6, 2, 5, 1);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("Exo 0!");
    CHECK(row_shows(&fb, pixels, 0, "Exo 0!"));
    CHECK(row_shows(&fb, pixels, 1, ""));
    free(pixels);
}

static void test_attach_clears_visible_pixels_and_spares_pitch_padding(void)
{
    struct boot_framebuffer fb = make_fb(24, 3, 2, 5, 3);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("abc");
    int wrong_visible = 0, wrong_padding = 0;
    for (uint32_t y = 0; y < fb.height; y++) {
        const uint8_t *line = pixels + (size_t)y * fb.pitch_bytes;
        for (uint32_t x = 3 * FONT_WIDTH; x < fb.width; x++)
            wrong_visible += read_pixel(&fb, pixels, x, y) != 0;
        for (uint32_t b = fb.width * 3; b < fb.pitch_bytes; b++)
            wrong_padding += line[b] != PADDING_BYTE;
    }
    for (uint32_t y = 2 * FONT_HEIGHT; y < fb.height; y++)
        for (uint32_t x = 0; x < fb.width; x++)
            wrong_visible += read_pixel(&fb, pixels, x, y) != 0;
    CHECK_EQ_INT(wrong_visible, 0);
    CHECK_EQ_INT(wrong_padding, 0);
    free(pixels);
}

static void test_long_line_wraps_to_next_row(void)
{
    struct boot_framebuffer fb = make_fb(32, 5, 3, 0, 4);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("abcdefg");
    CHECK(row_shows(&fb, pixels, 0, "abcde"));
    CHECK(row_shows(&fb, pixels, 1, "fg"));
    free(pixels);
}

static void test_full_line_then_newline_does_not_skip_a_row(void)
{
    struct boot_framebuffer fb = make_fb(32, 5, 3, 0, 0);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("12345\nxy");
    CHECK(row_shows(&fb, pixels, 0, "12345"));
    CHECK(row_shows(&fb, pixels, 1, "xy"));
    CHECK(row_shows(&fb, pixels, 2, ""));
    free(pixels);
}

static void test_newline_on_last_row_scrolls_rows_up(void)
{
    struct boot_framebuffer fb = make_fb(24, 6, 3, 2, 5);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("first!\nb\nthird\nfour");
    CHECK(row_shows(&fb, pixels, 0, "b"));
    CHECK(row_shows(&fb, pixels, 1, "third"));
    CHECK(row_shows(&fb, pixels, 2, "four"));
    write_str("\n\n\n");
    CHECK(row_shows(&fb, pixels, 0, ""));
    CHECK(row_shows(&fb, pixels, 1, ""));
    CHECK(row_shows(&fb, pixels, 2, ""));
    free(pixels);
}

static void test_wrap_on_last_row_scrolls(void)
{
    struct boot_framebuffer fb = make_fb(32, 4, 2, 0, 0);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("0123456789");
    CHECK(row_shows(&fb, pixels, 0, "4567"));
    CHECK(row_shows(&fb, pixels, 1, "89"));
    free(pixels);
}

static void test_carriage_return_tab_and_backspace_move_the_cursor(void)
{
    struct boot_framebuffer fb = make_fb(32, 20, 4, 0, 0);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("abc\rX\nab\tc\tdefg\th\nab\bY\b\b\bZ");
    CHECK(row_shows(&fb, pixels, 0, "Xbc"));
    CHECK(row_shows(&fb, pixels, 1, "ab      c       defg"));
    CHECK(row_shows(&fb, pixels, 2, "h"));
    CHECK(row_shows(&fb, pixels, 3, "ZY"));
    free(pixels);
}

static void test_controls_are_dropped_and_high_bytes_show_replacement(void)
{
    struct boot_framebuffer fb = make_fb(32, 6, 1, 0, 0);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("a\a\x1b\177b\xc3\xa9");
    CHECK(cell_shows(&fb, pixels, 0, 0, 'a', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 1, 'b', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 2, 0, RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 3, 0, RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 4, ' ', RGB_NORMAL));
    free(pixels);
}

static void test_colour_applies_to_later_text_and_survives_scrolling(void)
{
    struct boot_framebuffer fb = make_fb(24, 4, 2, 1, 1);
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    write_str("n");
    fbcon_set_colour_of(&con, FBCON_COLOUR_RED);
    write_str("R\n");
    fbcon_set_colour_of(&con, FBCON_COLOUR_NORMAL);
    write_str("n");
    CHECK(cell_shows(&fb, pixels, 0, 0, 'n', RGB_NORMAL));
    CHECK(cell_shows(&fb, pixels, 0, 1, 'R', RGB_RED));
    CHECK_EQ_U64(expected_pixel(&fb, RGB_RED), 0x5555ff); /* red in the low byte here */
    write_str("\nx");
    CHECK(cell_shows(&fb, pixels, 0, 0, 'n', RGB_NORMAL));
    CHECK(!cell_shows(&fb, pixels, 0, 1, 'R', RGB_RED));
    free(pixels);
}

static void test_wide_channels_are_scaled(void)
{
    /* 10 bits per channel in a 32-bit pixel (x2r10g10b10). */
    struct boot_framebuffer fb = make_fb(32, 2, 1, 0, 0);
    fb.red_shift = 20, fb.green_shift = 10, fb.blue_shift = 0;
    fb.red_bits = fb.green_bits = fb.blue_bits = 10;
    uint8_t *pixels = make_pixels(&fb);
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_OK);
    fbcon_set_colour_of(&con, FBCON_COLOUR_BRIGHT);
    write_str("\x7f#"); /* DEL is dropped; '#' has ink in its middle row */
    const uint8_t *glyph = font_glyphs['#'];
    int y = FONT_HEIGHT / 2, x = 0;
    while (!(glyph[y] & (0x80 >> x)))
        x++;
    CHECK_EQ_U64(read_pixel(&fb, pixels, (uint32_t)x, (uint32_t)y), 0x3fffffff);
    free(pixels);
}

static void test_unusable_framebuffers_are_refused_untouched(void)
{
    struct boot_framebuffer good = make_fb(32, 2, 2, 0, 0);
    uint8_t *pixels = make_pixels(&good);
    struct boot_framebuffer fb = good;
    fb.kind = FB_KIND_EGA_TEXT;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_NOT_RGB);
    fb = good, fb.bpp = 16;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_BPP);
    fb = good, fb.red_shift = 28;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_CHANNELS);
    fb = good, fb.blue_bits = 0;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_CHANNELS);
    fb = good, fb.height = FONT_HEIGHT - 1;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_GEOMETRY);
    fb = good, fb.pitch_bytes = good.width * 4 - 1;
    CHECK_EQ_INT(fbcon_attach(&con, &fb, pixels), FBCON_ERR_GEOMETRY);
    CHECK(pixels[0] == PADDING_BYTE && pixels[good.pitch_bytes * good.height - 1] == PADDING_BYTE);
    free(pixels);
}

static void reset_fake_boot(struct boot_framebuffer fb)
{
    memset(&fake_boot_info, 0, sizeof(fake_boot_info));
    fake_boot_info.framebuffer = fb;
    fake_options.consoles = CONSOLE_SERIAL | CONSOLE_FB;
    registered_sink = NULL;
    register_calls = 0;
    shim_clear_log();
}

static void test_init_skips_missing_ega_and_disabled_framebuffers_quietly(void)
{
    struct boot_framebuffer fb = {0};
    reset_fake_boot(fb);
    CHECK(!fbcon_init());
    fb = make_fb(32, 4, 4, 0, 0);
    fb.kind = FB_KIND_EGA_TEXT;
    reset_fake_boot(fb);
    CHECK(!fbcon_init());
    reset_fake_boot(make_fb(32, 4, 4, 0, 0));
    fake_options.consoles = CONSOLE_SERIAL;
    CHECK(!fbcon_init());
    CHECK_EQ_INT(register_calls, 0);
    CHECK_EQ_STR(shim_log, "");
}

static void test_init_reports_unsupported_bpp_and_skips(void)
{
    struct boot_framebuffer fb = make_fb(32, 4, 4, 0, 0);
    fb.bpp = 16;
    reset_fake_boot(fb);
    CHECK(!fbcon_init());
    CHECK_EQ_INT(register_calls, 0);
    CHECK(strstr(shim_log, "fbcon: ") == shim_log);
    CHECK(strstr(shim_log, "16 bpp") != NULL);
}

static void test_init_registers_a_console_that_draws_in_physical_memory(void)
{
    shim_phys_init(1 << 20);
    struct boot_framebuffer fb = make_fb(24, 10, 4, 3, 5);
    fb.addr_phys = 0x10000;
    reset_fake_boot(fb);
    CHECK(fbcon_init());
    CHECK_EQ_INT(register_calls, 1);
    uint8_t *pixels = shim_phys_base + fb.addr_phys;
    if (registered_sink) {
        registered_sink("hi\n", 3);
        fbcon_set_colour(FBCON_COLOUR_RED);
        registered_sink("P", 1);
        fbcon_set_colour(FBCON_COLOUR_NORMAL);
    }
    CHECK(row_shows(&fb, pixels, 0, "hi"));
    CHECK(cell_shows(&fb, pixels, 1, 0, 'P', RGB_RED));
    CHECK(strstr(shim_log, "10 columns x 4 rows") != NULL);
    shim_phys_fini();
}

int main(void)
{
    check_program = "test_fbcon";
    RUN(test_glyph_pixels_match_font_at_32bpp_odd_pitch);
    RUN(test_glyph_pixels_match_font_at_24bpp_odd_pitch);
    RUN(test_attach_clears_visible_pixels_and_spares_pitch_padding);
    RUN(test_long_line_wraps_to_next_row);
    RUN(test_full_line_then_newline_does_not_skip_a_row);
    RUN(test_newline_on_last_row_scrolls_rows_up);
    RUN(test_wrap_on_last_row_scrolls);
    RUN(test_carriage_return_tab_and_backspace_move_the_cursor);
    RUN(test_controls_are_dropped_and_high_bytes_show_replacement);
    RUN(test_colour_applies_to_later_text_and_survives_scrolling);
    RUN(test_wide_channels_are_scaled);
    RUN(test_unusable_framebuffers_are_refused_untouched);
    RUN(test_init_skips_missing_ega_and_disabled_framebuffers_quietly);
    RUN(test_init_reports_unsupported_bpp_and_skips);
    RUN(test_init_registers_a_console_that_draws_in_physical_memory);
    return check_summary();
}
