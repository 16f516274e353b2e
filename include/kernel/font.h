/*
 * font: the console's 8x16 bitmap font, generated at build time into build/font.c
 * by kernel/font/psf2c.py from a PSF console font (Terminus Font by default; its
 * license is named in that script).
 *
 * font_glyphs[c] is the glyph of ASCII code c: FONT_HEIGHT rows, top first, one byte
 * per row, bit 7 the leftmost pixel. Codes without a printable character (controls,
 * DEL) hold a replacement glyph; there is no glyph for bytes >= FONT_GLYPH_COUNT.
 *
 * Interrupt context: constant data, read anywhere.
 */
#ifndef EXO_KERNEL_FONT_H
#define EXO_KERNEL_FONT_H

#include <stdint.h>

#define FONT_WIDTH 8
#define FONT_HEIGHT 16
#define FONT_GLYPH_COUNT 128

extern const uint8_t font_glyphs[FONT_GLYPH_COUNT][FONT_HEIGHT];

#endif
