#include "kernel/fbcon.h"

#include "kernel/boot.h"
#include "kernel/console.h"
#include "kernel/font.h"
#include "lib/printf.h"
#include "mm/paging.h"

/* The palette as 0xRRGGBB, converted to each framebuffer's pixel format at attach. */
static const uint32_t colour_rgb[FBCON_COLOUR_COUNT] = {
    [FBCON_COLOUR_NORMAL] = 0xaaaaaa, [FBCON_COLOUR_BRIGHT] = 0xffffff,
    [FBCON_COLOUR_DIM] = 0x808080,    [FBCON_COLOUR_RED] = 0xff5555,
    [FBCON_COLOUR_YELLOW] = 0xffff55, [FBCON_COLOUR_GREEN] = 0x55ff55,
    [FBCON_COLOUR_CYAN] = 0x55ffff,
};
#define BACKGROUND_RGB 0x000000
#define CHANNEL_MAX_BITS 16
/* Glyph for bytes past the font: code 0 is a control code, which holds it. */
#define REPLACEMENT_CODE 0

static const struct fbcon_cell blank_cell = {' ', FBCON_COLOUR_NORMAL};

/* An 8-bit channel value scaled to `bits` bits, rounded, at `shift`. */
static uint32_t pack_channel(uint32_t value8, uint8_t shift, uint8_t bits)
{
    uint32_t max = (1u << bits) - 1;
    return ((value8 * max + 127) / 255) << shift;
}

static uint32_t pack_rgb(const struct boot_framebuffer *fb, uint32_t rgb)
{
    return pack_channel((rgb >> 16) & 0xff, fb->red_shift, fb->red_bits) |
           pack_channel((rgb >> 8) & 0xff, fb->green_shift, fb->green_bits) |
           pack_channel(rgb & 0xff, fb->blue_shift, fb->blue_bits);
}

static bool channel_fits(uint8_t shift, uint8_t bits, uint8_t bpp)
{
    return bits >= 1 && bits <= CHANNEL_MAX_BITS && shift + bits <= bpp;
}

static int check_framebuffer(const struct boot_framebuffer *fb)
{
    if (fb->kind != FB_KIND_RGB)
        return FBCON_ERR_NOT_RGB;
    if (fb->bpp != 24 && fb->bpp != 32)
        return FBCON_ERR_BPP;
    if (!channel_fits(fb->red_shift, fb->red_bits, fb->bpp) ||
        !channel_fits(fb->green_shift, fb->green_bits, fb->bpp) ||
        !channel_fits(fb->blue_shift, fb->blue_bits, fb->bpp))
        return FBCON_ERR_CHANNELS;
    if (fb->width < FONT_WIDTH || fb->height < FONT_HEIGHT ||
        fb->pitch_bytes < (uint64_t)fb->width * (fb->bpp / 8))
        return FBCON_ERR_GEOMETRY;
    return FBCON_OK;
}

static struct fbcon_cell *cell_at(struct fbcon *con, uint32_t row, uint32_t column)
{
    return &con->cells[row * con->columns + column];
}

/* Two cells look the same when they draw the same pixels. */
static bool cells_look_same(struct fbcon_cell a, struct fbcon_cell b)
{
    return a.ch == b.ch && (a.colour == b.colour || a.ch == ' ');
}

/* One glyph row, 8 pixels; the pixel value's bytes go out little-endian, which is
 * the order the loader's channel shifts count in. Separate loops per pixel size
 * keep each store a constant-size one. */
static void draw_glyph_row(uint8_t *out, uint32_t bytes_per_pixel, uint8_t bits, uint32_t fg,
                           uint32_t bg)
{
    if (bytes_per_pixel == 4) {
        for (int x = 0; x < FONT_WIDTH; x++, out += 4) {
            uint32_t pixel = (bits & (0x80 >> x)) ? fg : bg;
            __builtin_memcpy(out, &pixel, 4);
        }
    } else {
        for (int x = 0; x < FONT_WIDTH; x++, out += 3) {
            uint32_t pixel = (bits & (0x80 >> x)) ? fg : bg;
            out[0] = (uint8_t)pixel;
            out[1] = (uint8_t)(pixel >> 8);
            out[2] = (uint8_t)(pixel >> 16);
        }
    }
}

static void draw_cell(struct fbcon *con, uint32_t row, uint32_t column)
{
    struct fbcon_cell cell = *cell_at(con, row, column);
    const uint8_t *glyph = font_glyphs[cell.ch < FONT_GLYPH_COUNT ? cell.ch : REPLACEMENT_CODE];
    uint32_t fg = con->colour_pixel[cell.colour];
    uint8_t *out = con->pixels + (size_t)row * FONT_HEIGHT * con->pitch_bytes +
                   (size_t)column * FONT_WIDTH * con->bytes_per_pixel;
    for (int y = 0; y < FONT_HEIGHT; y++, out += con->pitch_bytes)
        draw_glyph_row(out, con->bytes_per_pixel, glyph[y], fg, con->background_pixel);
}

/* Sets a cell and draws it if that changes what the screen shows. */
static void put_cell(struct fbcon *con, uint32_t row, uint32_t column, struct fbcon_cell cell)
{
    struct fbcon_cell *slot = cell_at(con, row, column);
    bool changed = !cells_look_same(*slot, cell);
    *slot = cell;
    if (changed)
        draw_cell(con, row, column);
    if (cell.ch != ' ' && column >= con->row_used[row])
        con->row_used[row] = (uint16_t)(column + 1);
}

static void clear_pixels(struct fbcon *con, uint32_t width, uint32_t height)
{
    uint8_t *line = con->pixels;
    for (uint32_t y = 0; y < height; y++, line += con->pitch_bytes) {
        for (uint32_t x = 0; x + FONT_WIDTH <= width; x += FONT_WIDTH)
            draw_glyph_row(line + x * con->bytes_per_pixel, con->bytes_per_pixel, 0, 0,
                           con->background_pixel);
        for (uint32_t x = width - width % FONT_WIDTH; x < width; x++) {
            for (uint32_t b = 0; b < con->bytes_per_pixel; b++)
                line[x * con->bytes_per_pixel + b] = (uint8_t)(con->background_pixel >> (8 * b));
        }
    }
}

int fbcon_attach(struct fbcon *con, const struct boot_framebuffer *fb, void *pixels)
{
    int error = check_framebuffer(fb);
    if (error != FBCON_OK)
        return error;
    con->pixels = pixels;
    con->pitch_bytes = fb->pitch_bytes;
    con->bytes_per_pixel = fb->bpp / 8;
    con->columns = fb->width / FONT_WIDTH;
    con->rows = fb->height / FONT_HEIGHT;
    if (con->columns > FBCON_MAX_COLUMNS)
        con->columns = FBCON_MAX_COLUMNS;
    if (con->rows > FBCON_MAX_ROWS)
        con->rows = FBCON_MAX_ROWS;
    con->cursor_column = 0;
    con->cursor_row = 0;
    con->colour = FBCON_COLOUR_NORMAL;
    for (int i = 0; i < FBCON_COLOUR_COUNT; i++)
        con->colour_pixel[i] = pack_rgb(fb, colour_rgb[i]);
    con->background_pixel = pack_rgb(fb, BACKGROUND_RGB);
    for (uint32_t i = 0; i < con->rows * con->columns; i++)
        con->cells[i] = blank_cell;
    for (uint32_t row = 0; row < con->rows; row++)
        con->row_used[row] = 0;
    clear_pixels(con, fb->width, fb->height);
    return FBCON_OK;
}

/* Moves every row up by one and blanks the last, redrawing only changed cells. */
static void scroll_up(struct fbcon *con)
{
    for (uint32_t row = 0; row + 1 < con->rows; row++) {
        uint32_t used = con->row_used[row];
        if (con->row_used[row + 1] > used)
            used = con->row_used[row + 1];
        for (uint32_t column = 0; column < used; column++)
            put_cell(con, row, column, *cell_at(con, row + 1, column));
        con->row_used[row] = con->row_used[row + 1];
    }
    uint32_t last = con->rows - 1;
    for (uint32_t column = 0; column < con->row_used[last]; column++)
        put_cell(con, last, column, blank_cell);
    con->row_used[last] = 0;
}

static void new_line(struct fbcon *con)
{
    con->cursor_column = 0;
    if (con->cursor_row + 1 < con->rows)
        con->cursor_row++;
    else
        scroll_up(con);
}

static void put_char(struct fbcon *con, uint8_t ch)
{
    if (con->cursor_column == con->columns)
        new_line(con);
    struct fbcon_cell cell = {ch, con->colour};
    put_cell(con, con->cursor_row, con->cursor_column, cell);
    con->cursor_column++;
}

/* To the next tab stop, or to the wrap point past the last one; a tab at the wrap
 * point starts the next line. */
static void tab(struct fbcon *con)
{
    if (con->cursor_column == con->columns) {
        new_line(con);
        return;
    }
    uint32_t next = (con->cursor_column / FBCON_TAB_COLUMNS + 1) * FBCON_TAB_COLUMNS;
    con->cursor_column = next < con->columns ? next : con->columns;
}

void fbcon_write(struct fbcon *con, const char *chars, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)chars[i];
        switch (ch) {
        case '\n':
            new_line(con);
            break;
        case '\r':
            con->cursor_column = 0;
            break;
        case '\t':
            tab(con);
            break;
        case '\b':
            if (con->cursor_column > 0)
                con->cursor_column--;
            break;
        default:
            if (ch >= 0x20 && ch != 0x7f)
                put_char(con, ch);
            break;
        }
    }
}

void fbcon_set_colour_of(struct fbcon *con, enum fbcon_colour colour)
{
    if ((unsigned)colour < FBCON_COLOUR_COUNT)
        con->colour = (uint8_t)colour;
}

const char *fbcon_strerror(int error)
{
    switch (error) {
    case FBCON_OK:
        return "ok";
    case FBCON_ERR_NOT_RGB:
        return "not a direct-colour (RGB) framebuffer";
    case FBCON_ERR_BPP:
        return "unsupported bits per pixel (24 and 32 are supported)";
    case FBCON_ERR_CHANNELS:
        return "unusable colour channel layout";
    case FBCON_ERR_GEOMETRY:
        return "smaller than one text cell, or pitch shorter than a row";
    default:
        return "unknown error";
    }
}

/* ---- the kernel's screen ---------------------------------------------------------- */

/* Set up by fbcon_init on the boot CPU before it is registered; afterwards written
 * only by console_write's serialised callers and fbcon_set_colour. */
static struct fbcon screen;
static bool screen_on;

/*
 * Where the kernel reaches the framebuffer: a write-combining device mapping of
 * exactly its pages (the direct map covers RAM only). NULL when that fails.
 */
static void *fb_map(const struct boot_framebuffer *fb)
{
    uint64_t size_bytes = (uint64_t)fb->pitch_bytes * fb->height;
    return paging_map_device(phys(fb->addr_phys), size_bytes, PAGE_WRITE | PAGE_WRITE_COMBINE);
}

static void screen_write(const char *chars, size_t len)
{
    fbcon_write(&screen, chars, len);
}

bool fbcon_init(void)
{
    const struct boot_framebuffer *fb = &boot_info()->framebuffer;
    if (!(boot_options()->consoles & CONSOLE_FB) || fb->kind == FB_KIND_NONE ||
        fb->kind == FB_KIND_EGA_TEXT)
        return false;
    int error = check_framebuffer(fb);
    void *pixels = error == FBCON_OK ? fb_map(fb) : NULL;
    if (error == FBCON_OK && !pixels) {
        kprintf("fbcon: no screen console: the framebuffer at 0x%lx is not mapped\n",
                fb->addr_phys);
        return false;
    }
    if (error == FBCON_OK)
        error = fbcon_attach(&screen, fb, pixels);
    if (error != FBCON_OK) {
        kprintf("fbcon: no screen console: the %ux%u %u bpp framebuffer is unusable: %s\n",
                fb->width, fb->height, fb->bpp, fbcon_strerror(error));
        return false;
    }
    if (console_register(screen_write) != 0) {
        kprintf("fbcon: no screen console: no console slot left\n");
        return false;
    }
    screen_on = true;
    kprintf("fbcon: %ux%u, %u bpp, pitch %u bytes: %u columns x %u rows\n", fb->width, fb->height,
            fb->bpp, fb->pitch_bytes, screen.columns, screen.rows);
    return true;
}

void fbcon_set_colour(enum fbcon_colour colour)
{
    if (screen_on)
        fbcon_set_colour_of(&screen, colour);
}
