/*
 * fbcon: a text console drawn on the linear framebuffer the loader set up (GRUB's
 * VBE mode on BIOS, the GOP mode on UEFI), with the 8x16 font of kernel/font.h.
 *
 * The screen is a grid of columns x rows text cells; the grid itself is kept in
 * memory (struct fbcon), so scrolling redraws only the cells that change and never
 * reads the framebuffer back (slow on real hardware, where it is write-combined).
 * Pixels right and below the last whole cell stay background. Any resolution and
 * pitch work; pixels of 24 or 32 bits, each colour channel where the loader says.
 *
 * Output understands \n (next line), \r (column 0), \t (next multiple of 8), \b (one
 * column left, nothing erased); a line longer than the screen wraps, and the screen
 * scrolls up when the cursor passes the last row. Other control bytes are dropped;
 * bytes >= 0x80 show the font's replacement glyph.
 *
 * Locking: none of its own. A struct fbcon is used by one writer at a time; the
 * kernel's screen is written only through console_write (kernel/console.h), whose
 * callers serialise, and fbcon_set_colour is called by the same writers.
 *
 * Interrupt context: through console_write only, like any other writer.
 */
#ifndef EXO_KERNEL_FBCON_H
#define EXO_KERNEL_FBCON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/bootinfo.h"

/* Enough for 3840x2560 with 8x16 cells; a larger screen uses its top-left part. */
#define FBCON_MAX_COLUMNS 480
#define FBCON_MAX_ROWS 160
#define FBCON_TAB_COLUMNS 8

/* Foreground colours, for log levels: NORMAL for info, DIM for debug, YELLOW for
 * warnings, RED for errors and panics. The background is always black. */
enum fbcon_colour {
    FBCON_COLOUR_NORMAL = 0,
    FBCON_COLOUR_BRIGHT,
    FBCON_COLOUR_DIM,
    FBCON_COLOUR_RED,
    FBCON_COLOUR_YELLOW,
    FBCON_COLOUR_GREEN,
    FBCON_COLOUR_CYAN,
    FBCON_COLOUR_COUNT
};

enum fbcon_error {
    FBCON_OK = 0,
    FBCON_ERR_NOT_RGB = -1,  /* EGA text or a palette mode: nothing to draw on */
    FBCON_ERR_BPP = -2,      /* neither 24 nor 32 bits per pixel */
    FBCON_ERR_CHANNELS = -3, /* a colour channel missing, wider than 16 bits, or
                                outside the pixel */
    FBCON_ERR_GEOMETRY = -4, /* smaller than one cell, or pitch < width */
};

/* One text cell: what it shows. */
struct fbcon_cell {
    uint8_t ch;     /* the byte written there; ' ' when blank */
    uint8_t colour; /* enum fbcon_colour */
};

/* A console on one framebuffer; every field is set by fbcon_attach and changed only
 * by its one writer (see Locking above). */
struct fbcon {
    uint8_t *pixels;          /* the framebuffer's first byte, mapped */
    uint32_t pitch_bytes;     /* from one pixel row to the next */
    uint32_t bytes_per_pixel; /* 3 or 4 */
    uint32_t columns, rows;   /* whole cells on screen, at most the FBCON_MAX_* */
    /* 0..columns; == columns means "wrap before the next character", so a full line
     * followed by \n makes one line, not two. */
    uint32_t cursor_column;
    uint32_t cursor_row;                       /* 0..rows-1 */
    uint8_t colour;                            /* enum fbcon_colour of what is written next */
    uint32_t colour_pixel[FBCON_COLOUR_COUNT]; /* the palette, in pixel format */
    uint32_t background_pixel;
    /* Per row, a bound on its non-blank cells: cells at or past it are blank. */
    uint16_t row_used[FBCON_MAX_ROWS];
    /* Row-major, `columns` cells per row. */
    struct fbcon_cell cells[FBCON_MAX_ROWS * FBCON_MAX_COLUMNS];
};

/*
 * Sets `con` up to draw on `fb`, whose first byte is mapped at `pixels`, and clears
 * the screen to the background. Returns FBCON_OK or an enum fbcon_error, leaving the
 * framebuffer untouched on error.
 */
int fbcon_attach(struct fbcon *con, const struct boot_framebuffer *fb, void *pixels);

/* Writes `len` bytes at the cursor, in the current colour. */
void fbcon_write(struct fbcon *con, const char *chars, size_t len);

/* The colour of what `con` writes next. */
void fbcon_set_colour_of(struct fbcon *con, enum fbcon_colour colour);

/* A short name for an enum fbcon_error, for messages. */
const char *fbcon_strerror(int error);

/*
 * The kernel's screen: when the boot info has an RGB framebuffer and the command
 * line allows (console=...,fb), maps it, attaches a console to it and registers that
 * with kernel/console.c, which first replays what was printed so far. Returns whether
 * the screen console is on; says why not on the other consoles when there is a
 * framebuffer it cannot use. Call once, on the boot CPU, after boot_load.
 */
bool fbcon_init(void);

/* The colour of what the screen shows next (the panic path sets red); does
 * nothing when the screen console is off. */
void fbcon_set_colour(enum fbcon_colour colour);

#endif
