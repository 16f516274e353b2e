#include "ps2_keymap.h"

/* Scancode bytes that are not keys. */
#define SC_EXTENDED 0xe0 /* the next code is an extended key */
#define SC_PAUSE 0xe1    /* starts the Pause key's sequence */
#define SC2_RELEASE 0xf0 /* set 2: the next code is a release */
#define SC1_RELEASE 0x80 /* set 1: the release bit */
#define SC_ACK 0xfa
#define SC_RESEND 0xfe
#define SC_ECHO 0xee
#define SC_ERROR 0xff
#define SC2_PAUSE_TAIL 7 /* E1 14 77 E1 F0 14 F0 77 */
#define SC1_PAUSE_TAIL 5 /* E1 1D 45 E1 9D C5 */

/* Set 1 codes the decoder treats specially. */
#define KEY_LCTRL 0x1d
#define KEY_LSHIFT 0x2a
#define KEY_RSHIFT 0x36
#define KEY_ALT 0x38
#define KEY_CAPS_LOCK 0x3a
#define KEY_NUM_LOCK 0x45
#define KEY_PAD_FIRST 0x47 /* keypad 7 */
#define KEY_PAD_LAST 0x53  /* keypad . */
#define KEY_TYPEWRITER_END 0x3a
#define KEY_ENTER 0x1c
#define KEY_SLASH 0x35

/*
 * Set 2 make code -> set 1 make code: the translation an i8042 applies. Keys
 * with an E0 prefix translate through the same table (E0 75 -> E0 48, Up).
 * Zero: not a key this decoder knows.
 */
static const uint8_t set2_to_set1[0x84] = {
    [0x01] = 0x43, [0x03] = 0x3f, [0x04] = 0x3d, [0x05] = 0x3b, [0x06] = 0x3c, [0x07] = 0x58,
    [0x09] = 0x44, [0x0a] = 0x42, [0x0b] = 0x40, [0x0c] = 0x3e, [0x0d] = 0x0f, [0x0e] = 0x29,
    [0x11] = 0x38, [0x12] = 0x2a, [0x14] = 0x1d, [0x15] = 0x10, [0x16] = 0x02, [0x1a] = 0x2c,
    [0x1b] = 0x1f, [0x1c] = 0x1e, [0x1d] = 0x11, [0x1e] = 0x03, [0x21] = 0x2e, [0x22] = 0x2d,
    [0x23] = 0x20, [0x24] = 0x12, [0x25] = 0x05, [0x26] = 0x04, [0x29] = 0x39, [0x2a] = 0x2f,
    [0x2b] = 0x21, [0x2c] = 0x14, [0x2d] = 0x13, [0x2e] = 0x06, [0x31] = 0x31, [0x32] = 0x30,
    [0x33] = 0x23, [0x34] = 0x22, [0x35] = 0x15, [0x36] = 0x07, [0x3a] = 0x32, [0x3b] = 0x24,
    [0x3c] = 0x16, [0x3d] = 0x08, [0x3e] = 0x09, [0x41] = 0x33, [0x42] = 0x25, [0x43] = 0x17,
    [0x44] = 0x18, [0x45] = 0x0b, [0x46] = 0x0a, [0x49] = 0x34, [0x4a] = 0x35, [0x4b] = 0x26,
    [0x4c] = 0x27, [0x4d] = 0x19, [0x4e] = 0x0c, [0x52] = 0x28, [0x54] = 0x1a, [0x55] = 0x0d,
    [0x58] = 0x3a, [0x59] = 0x36, [0x5a] = 0x1c, [0x5b] = 0x1b, [0x5d] = 0x2b, [0x61] = 0x56,
    [0x66] = 0x0e, [0x69] = 0x4f, [0x6b] = 0x4b, [0x6c] = 0x47, [0x70] = 0x52, [0x71] = 0x53,
    [0x72] = 0x50, [0x73] = 0x4c, [0x74] = 0x4d, [0x75] = 0x48, [0x76] = 0x01, [0x77] = 0x45,
    [0x78] = 0x57, [0x79] = 0x4e, [0x7a] = 0x51, [0x7b] = 0x4a, [0x7c] = 0x37, [0x7d] = 0x49,
    [0x7e] = 0x46, [0x83] = 0x41,
};

/* The typewriter block, set 1 codes 0x00-0x39, US layout; 0 where a key types
 * nothing (modifiers). */
static const char plain[KEY_TYPEWRITER_END] = "\0\x1b"
                                              "1234567890-="
                                              "\x7f\t"
                                              "qwertyuiop[]"
                                              "\r\0"
                                              "asdfghjkl;'`"
                                              "\0"
                                              "\\zxcvbnm,./"
                                              "\0*\0 ";
static const char shifted[KEY_TYPEWRITER_END] = "\0\x1b"
                                                "!@#$%^&*()_+"
                                                "\x7f\t"
                                                "QWERTYUIOP{}"
                                                "\r\0"
                                                "ASDFGHJKL:\"~"
                                                "\0"
                                                "|ZXCVBNM<>?"
                                                "\0*\0 ";

/* The keypad, 0x47-0x53, with Num Lock on; without it the digits navigate. */
static const char keypad_digits[] = "789-456+1230.";

/* The navigation keys' escape sequences, by set 1 code (extended, or keypad
 * without Num Lock). */
static const char *navigation(uint8_t code)
{
    switch (code) {
    case 0x48:
        return "\x1b[A"; /* Up */
    case 0x50:
        return "\x1b[B"; /* Down */
    case 0x4d:
        return "\x1b[C"; /* Right */
    case 0x4b:
        return "\x1b[D"; /* Left */
    case 0x47:
        return "\x1b[H"; /* Home */
    case 0x4f:
        return "\x1b[F"; /* End */
    case 0x52:
        return "\x1b[2~"; /* Insert */
    case 0x53:
        return "\x1b[3~"; /* Delete */
    case 0x49:
        return "\x1b[5~"; /* Page Up */
    case 0x51:
        return "\x1b[6~"; /* Page Down */
    default:
        return NULL;
    }
}

void keymap_init(struct keymap_decoder *d, bool set2)
{
    *d = (struct keymap_decoder){.set2 = set2, .num_lock = true};
}

static size_t emit_string(const char *s, char out[KEYMAP_OUT_MAX])
{
    size_t n = 0;
    while (s && s[n] && n < KEYMAP_OUT_MAX) {
        out[n] = s[n];
        n++;
    }
    return n;
}

static size_t emit_char(char c, char out[KEYMAP_OUT_MAX])
{
    out[0] = c;
    return c ? 1 : 0;
}

static char typewriter_char(const struct keymap_decoder *d, uint8_t code)
{
    bool shift = d->left_shift || d->right_shift;
    char c = plain[code];
    if (c >= 'a' && c <= 'z') {
        if (d->left_ctrl || d->right_ctrl)
            return (char)(c & 0x1f);
        return shift != d->caps_lock ? (char)(c - 'a' + 'A') : c;
    }
    return shift ? shifted[code] : c;
}

static size_t plain_key(struct keymap_decoder *d, uint8_t code, bool release,
                        char out[KEYMAP_OUT_MAX])
{
    switch (code) {
    case KEY_LSHIFT:
        d->left_shift = !release;
        return 0;
    case KEY_RSHIFT:
        d->right_shift = !release;
        return 0;
    case KEY_LCTRL:
        d->left_ctrl = !release;
        return 0;
    default:
        break;
    }
    if (release)
        return 0;
    if (code == KEY_CAPS_LOCK) {
        d->caps_lock = !d->caps_lock;
        return 0;
    }
    if (code == KEY_NUM_LOCK) {
        d->num_lock = !d->num_lock;
        return 0;
    }
    if (code >= KEY_PAD_FIRST && code <= KEY_PAD_LAST) {
        char digit = keypad_digits[code - KEY_PAD_FIRST];
        if (d->num_lock || digit == '-' || digit == '+')
            return emit_char(digit, out);
        return emit_string(navigation(code), out);
    }
    if (code < KEY_TYPEWRITER_END)
        return emit_char(typewriter_char(d, code), out);
    return 0; /* function keys, the 102nd key, ... */
}

static size_t extended_key(struct keymap_decoder *d, uint8_t code, bool release,
                           char out[KEYMAP_OUT_MAX])
{
    if (code == KEY_LCTRL) { /* E0 1D: the right Ctrl */
        d->right_ctrl = !release;
        return 0;
    }
    if (release)
        return 0;
    if (code == KEY_ENTER) /* keypad Enter */
        return emit_char('\r', out);
    if (code == KEY_SLASH) /* keypad / */
        return emit_char('/', out);
    /* The rest: navigation, or nothing (right Alt, the fake shifts that wrap
     * Print Screen and the navigation keys, the Windows keys). */
    return emit_string(navigation(code), out);
}

static bool is_controller_reply(uint8_t byte)
{
    return byte == SC_ACK || byte == SC_RESEND || byte == SC_ECHO || byte == SC_ERROR || byte == 0;
}

size_t keymap_feed(struct keymap_decoder *d, uint8_t byte, char out[KEYMAP_OUT_MAX])
{
    if (d->skip) {
        d->skip--;
        return 0;
    }
    if (is_controller_reply(byte))
        return 0;
    if (byte == SC_PAUSE) {
        d->skip = d->set2 ? SC2_PAUSE_TAIL : SC1_PAUSE_TAIL;
        d->extended = d->releasing = false;
        return 0;
    }
    if (byte == SC_EXTENDED) {
        d->extended = true;
        return 0;
    }
    uint8_t code;
    bool release;
    if (d->set2) {
        if (byte == SC2_RELEASE) {
            d->releasing = true;
            return 0;
        }
        code = byte < sizeof(set2_to_set1) ? set2_to_set1[byte] : 0;
        release = d->releasing;
        d->releasing = false;
    } else {
        code = byte & (uint8_t)~SC1_RELEASE;
        release = (byte & SC1_RELEASE) != 0;
    }
    bool extended = d->extended;
    d->extended = false;
    if (code == 0 || code == KEY_ALT)
        return 0;
    return extended ? extended_key(d, code, release, out) : plain_key(d, code, release, out);
}
