/*
 * ps2_keymap: PS/2 keyboard scancodes to the bytes a terminal would send, US layout.
 *
 * The keyboard speaks scancode set 2; an i8042 controller with translation on (the
 * usual setting) hands the driver set 1 instead. The decoder takes either: set 2
 * bytes are first turned into their set 1 equivalents, with the same table the
 * controller uses, so one keymap serves both.
 *
 * What comes out: printable ASCII for the character keys (Shift, Caps Lock for
 * letters); Ctrl+letter as the control byte (Ctrl+C is 0x03); Enter '\r',
 * Backspace 0x7f, Tab '\t', Escape 0x1b; the arrows, Home, End, Insert, Delete,
 * Page Up and Page Down as VT100/xterm escape sequences (ESC [ A for Up ...). The
 * keypad gives digits when Num Lock is on, else the navigation keys. Key releases,
 * Alt, the function keys and the controller's replies (ACK, resend, self-test
 * passed) give nothing. Pause and Print Screen's extra bytes are skipped.
 *
 * Pure code (host-tested in tests/host/test_ps2_keymap.c); one decoder per
 * keyboard, fed from its interrupt handler only, so it needs no lock.
 */
#ifndef EXO_ARCH_X86_64_PS2_KEYMAP_H
#define EXO_ARCH_X86_64_PS2_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYMAP_OUT_MAX 4 /* the longest output of one byte: ESC [ 3 ~ */

struct keymap_decoder {
    bool set2;      /* input is untranslated scancode set 2 */
    bool extended;  /* an E0 prefix came: the next code is an extended key */
    bool releasing; /* set 2: an F0 prefix came: the next code is a release */
    uint8_t skip;   /* bytes of a Pause sequence still to swallow */
    bool left_shift, right_shift, left_ctrl, right_ctrl;
    bool caps_lock, num_lock;
};

/* A decoder with no key held, Caps Lock off and Num Lock on (as PC firmware
 * usually leaves it). set2: whether the bytes will be untranslated set 2. */
void keymap_init(struct keymap_decoder *d, bool set2);

/* Feeds one byte read from the keyboard; writes the bytes that key produces to
 * out and returns how many (0 .. KEYMAP_OUT_MAX). */
size_t keymap_feed(struct keymap_decoder *d, uint8_t byte, char out[KEYMAP_OUT_MAX]);

#endif
