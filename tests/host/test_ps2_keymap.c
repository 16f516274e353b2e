/* Host tests of arch/x86_64/ps2_keymap.c: scancode sets 1 and 2 to terminal bytes. */
#include <stdint.h>
#include <string.h>

#include "../../arch/x86_64/ps2_keymap.h"
#include "check.h"

/* Feeds a whole scancode sequence; returns what it typed, NUL-terminated. */
static const char *type_codes(struct keymap_decoder *d, const uint8_t *codes, size_t count)
{
    static char typed[256];
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        char out[KEYMAP_OUT_MAX];
        size_t n = keymap_feed(d, codes[i], out);
        CHECK(n <= KEYMAP_OUT_MAX);
        for (size_t j = 0; j < n && used + 1 < sizeof(typed); j++)
            typed[used++] = out[j];
    }
    typed[used] = 0;
    return typed;
}

#define TYPE(d, ...)                                                                               \
    ({                                                                                             \
        static const uint8_t codes_[] = {__VA_ARGS__};                                             \
        type_codes(d, codes_, sizeof(codes_));                                                     \
    })

/* A set 1 press and release of one key. */
#define TAP1(code) (code), (uint8_t)((code) | 0x80)
/* A set 2 press and release. */
#define TAP2(code) (code), 0xf0, (code)

static void test_set1_letters_digits_and_symbols(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    /* h e l l o space 1 2 - = [ ] ; ' ` \ , . / */
    CHECK_EQ_STR(TYPE(&d, TAP1(0x23), TAP1(0x12), TAP1(0x26), TAP1(0x26), TAP1(0x18), TAP1(0x39),
                      TAP1(0x02), TAP1(0x03), TAP1(0x0c), TAP1(0x0d), TAP1(0x1a), TAP1(0x1b),
                      TAP1(0x27), TAP1(0x28), TAP1(0x29), TAP1(0x2b), TAP1(0x33), TAP1(0x34),
                      TAP1(0x35)),
                 "hello 12-=[];'`\\,./");
}

static void test_set1_shift_gives_upper_row(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    /* left shift held: a 1 0 / ; then released: a */
    CHECK_EQ_STR(TYPE(&d, 0x2a, TAP1(0x1e), TAP1(0x02), TAP1(0x0b), TAP1(0x35), TAP1(0x27), 0xaa,
                      TAP1(0x1e)),
                 "A!)?:a");
    /* right shift too */
    CHECK_EQ_STR(TYPE(&d, 0x36, TAP1(0x2b), TAP1(0x0d), 0xb6, TAP1(0x2b)), "|+\\");
}

static void test_caps_lock_affects_letters_only(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, TAP1(0x3a), TAP1(0x1e), TAP1(0x02)), "A1");
    /* Shift with Caps Lock gives lower case letters, shifted symbols. */
    CHECK_EQ_STR(TYPE(&d, 0x2a, TAP1(0x1e), TAP1(0x02), 0xaa), "a!");
    /* Pressing Caps Lock again turns it off; its release changes nothing. */
    CHECK_EQ_STR(TYPE(&d, TAP1(0x3a), TAP1(0x1e)), "a");
}

static void test_ctrl_letter_gives_control_byte(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, 0x1d, TAP1(0x2e), 0x9d, TAP1(0x2e)), "\x03"
                                                               "c");
    /* Right Ctrl is E0 1D. */
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x1d, TAP1(0x1e), 0xe0, 0x9d, TAP1(0x1e)), "\x01"
                                                                           "a");
}

static void test_special_keys(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, TAP1(0x1c)), "\r");
    CHECK_EQ_STR(TYPE(&d, TAP1(0x0e)), "\x7f");
    CHECK_EQ_STR(TYPE(&d, TAP1(0x0f)), "\t");
    CHECK_EQ_STR(TYPE(&d, TAP1(0x01)), "\x1b");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x1c, 0xe0, 0x9c), "\r"); /* keypad Enter */
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x35, 0xe0, 0xb5), "/");  /* keypad / */
    /* Function keys and Alt type nothing, and leave no state behind. */
    CHECK_EQ_STR(TYPE(&d, TAP1(0x3b), TAP1(0x58), 0x38, TAP1(0x1e), 0xb8), "a");
}

static void test_set1_navigation_sequences(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x48, 0xe0, 0xc8), "\x1b[A");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x50, 0xe0, 0xd0), "\x1b[B");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x4d, 0xe0, 0xcd), "\x1b[C");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x4b, 0xe0, 0xcb), "\x1b[D");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x47, 0xe0, 0x4f), "\x1b[H\x1b[F");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x53), "\x1b[3~");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x52, 0xe0, 0x49, 0xe0, 0x51), "\x1b[2~\x1b[5~\x1b[6~");
    /* With Num Lock on, the cursor keys still navigate: E0 marks them. */
    CHECK(d.num_lock);
}

static void test_keypad_follows_num_lock(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, TAP1(0x47), TAP1(0x48), TAP1(0x52), TAP1(0x53), TAP1(0x4a), TAP1(0x4e),
                      TAP1(0x37)),
                 "780.-+*");
    CHECK_EQ_STR(TYPE(&d, TAP1(0x45), TAP1(0x48), TAP1(0x4b), TAP1(0x4c), TAP1(0x4a)),
                 "\x1b[A\x1b[D-");
}

static void test_fake_shifts_and_print_screen_type_nothing(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    /* Print Screen: E0 2A E0 37, release E0 B7 E0 AA; a shifted Up: E0 AA E0 48. */
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa, TAP1(0x1e)), "a");
    CHECK(!d.left_shift && !d.right_shift);
}

static void test_pause_sequence_is_swallowed(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5, TAP1(0x30)), "b");
    CHECK(!d.left_ctrl && d.num_lock);
    keymap_init(&d, true);
    CHECK_EQ_STR(TYPE(&d, 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77, TAP2(0x32)), "b");
    CHECK(!d.left_ctrl && d.num_lock);
}

static void test_controller_replies_are_ignored(void)
{
    struct keymap_decoder d;
    keymap_init(&d, false);
    CHECK_EQ_STR(TYPE(&d, 0xfa, 0xfe, 0xee, 0xff, 0x00, TAP1(0x1e)), "a");
    keymap_init(&d, true);
    CHECK_EQ_STR(TYPE(&d, 0xaa, 0xfa, 0xfc, 0x00, TAP2(0x1c)), "a"); /* 0xaa: self-test ok */
}

static void test_set2_letters_shift_and_navigation(void)
{
    struct keymap_decoder d;
    keymap_init(&d, true);
    /* e c h o space */
    CHECK_EQ_STR(TYPE(&d, TAP2(0x24), TAP2(0x21), TAP2(0x33), TAP2(0x44), TAP2(0x29)), "echo ");
    /* shift (0x12) held: a 2; released: a */
    CHECK_EQ_STR(TYPE(&d, 0x12, TAP2(0x1c), TAP2(0x1e), 0xf0, 0x12, TAP2(0x1c)), "A@a");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x75, 0xe0, 0xf0, 0x75), "\x1b[A");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x6b, 0xe0, 0xf0, 0x6b), "\x1b[D");
    CHECK_EQ_STR(TYPE(&d, 0xe0, 0x71, 0xe0, 0xf0, 0x71), "\x1b[3~");
    CHECK_EQ_STR(TYPE(&d, TAP2(0x5a), TAP2(0x66)), "\r\x7f");
    /* Caps Lock (0x58), Ctrl (0x14) */
    CHECK_EQ_STR(TYPE(&d, TAP2(0x58), TAP2(0x2d), TAP2(0x58), 0x14, TAP2(0x21), 0xf0, 0x14),
                 "R\x03");
}

/*
 * Every key of a US keyboard, as (set 2 code, set 1 code, unshifted, shifted), from
 * the IBM scancode tables: both sets must type the same.
 */
static const struct {
    uint8_t set2, set1;
    char plain, shifted;
} us_keys[] = {
    {0x0e, 0x29, '`', '~'},  {0x16, 0x02, '1', '!'},  {0x1e, 0x03, '2', '@'},
    {0x26, 0x04, '3', '#'},  {0x25, 0x05, '4', '$'},  {0x2e, 0x06, '5', '%'},
    {0x36, 0x07, '6', '^'},  {0x3d, 0x08, '7', '&'},  {0x3e, 0x09, '8', '*'},
    {0x46, 0x0a, '9', '('},  {0x45, 0x0b, '0', ')'},  {0x4e, 0x0c, '-', '_'},
    {0x55, 0x0d, '=', '+'},  {0x15, 0x10, 'q', 'Q'},  {0x1d, 0x11, 'w', 'W'},
    {0x24, 0x12, 'e', 'E'},  {0x2d, 0x13, 'r', 'R'},  {0x2c, 0x14, 't', 'T'},
    {0x35, 0x15, 'y', 'Y'},  {0x3c, 0x16, 'u', 'U'},  {0x43, 0x17, 'i', 'I'},
    {0x44, 0x18, 'o', 'O'},  {0x4d, 0x19, 'p', 'P'},  {0x54, 0x1a, '[', '{'},
    {0x5b, 0x1b, ']', '}'},  {0x5d, 0x2b, '\\', '|'}, {0x1c, 0x1e, 'a', 'A'},
    {0x1b, 0x1f, 's', 'S'},  {0x23, 0x20, 'd', 'D'},  {0x2b, 0x21, 'f', 'F'},
    {0x34, 0x22, 'g', 'G'},  {0x33, 0x23, 'h', 'H'},  {0x3b, 0x24, 'j', 'J'},
    {0x42, 0x25, 'k', 'K'},  {0x4b, 0x26, 'l', 'L'},  {0x4c, 0x27, ';', ':'},
    {0x52, 0x28, '\'', '"'}, {0x1a, 0x2c, 'z', 'Z'},  {0x22, 0x2d, 'x', 'X'},
    {0x21, 0x2e, 'c', 'C'},  {0x2a, 0x2f, 'v', 'V'},  {0x32, 0x30, 'b', 'B'},
    {0x31, 0x31, 'n', 'N'},  {0x3a, 0x32, 'm', 'M'},  {0x41, 0x33, ',', '<'},
    {0x49, 0x34, '.', '>'},  {0x4a, 0x35, '/', '?'},  {0x29, 0x39, ' ', ' '},
};

static void test_every_us_key_in_both_sets(void)
{
    for (size_t i = 0; i < sizeof(us_keys) / sizeof(us_keys[0]); i++) {
        struct keymap_decoder one, two;
        keymap_init(&one, false);
        keymap_init(&two, true);
        char want[3] = {us_keys[i].plain, us_keys[i].shifted, 0};
        uint8_t s1[] = {TAP1(us_keys[i].set1), 0x2a, TAP1(us_keys[i].set1), 0xaa};
        uint8_t s2[] = {TAP2(us_keys[i].set2), 0x12, TAP2(us_keys[i].set2), 0xf0, 0x12};
        const char *got1 = type_codes(&one, s1, sizeof(s1));
        if (strcmp(got1, want) != 0)
            fprintf(stderr, "set 1 code 0x%02x\n", us_keys[i].set1);
        CHECK_EQ_STR(got1, want);
        const char *got2 = type_codes(&two, s2, sizeof(s2));
        if (strcmp(got2, want) != 0)
            fprintf(stderr, "set 2 code 0x%02x\n", us_keys[i].set2);
        CHECK_EQ_STR(got2, want);
    }
}

/* Any byte stream, however garbled, keeps the output bounded and never reads
 * outside the tables (ASan watches). */
static void test_random_bytes_are_safe(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int set = 0; set < 2; set++) {
        struct keymap_decoder d;
        keymap_init(&d, set == 1);
        for (int i = 0; i < 200000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char out[KEYMAP_OUT_MAX];
            CHECK(keymap_feed(&d, (uint8_t)x, out) <= KEYMAP_OUT_MAX);
        }
    }
}

int main(void)
{
    check_program = "test_ps2_keymap";
    RUN(test_set1_letters_digits_and_symbols);
    RUN(test_set1_shift_gives_upper_row);
    RUN(test_caps_lock_affects_letters_only);
    RUN(test_ctrl_letter_gives_control_byte);
    RUN(test_special_keys);
    RUN(test_set1_navigation_sequences);
    RUN(test_keypad_follows_num_lock);
    RUN(test_fake_shifts_and_print_screen_type_nothing);
    RUN(test_pause_sequence_is_swallowed);
    RUN(test_controller_replies_are_ignored);
    RUN(test_set2_letters_shift_and_navigation);
    RUN(test_every_us_key_in_both_sets);
    RUN(test_random_bytes_are_safe);
    return check_summary();
}
