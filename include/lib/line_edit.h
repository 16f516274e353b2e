/*
 * line_edit: the shell's line editor, fed one typed byte at a time.
 *
 * It understands what a terminal or the keyboard driver (kernel/input.h) sends:
 * printable ASCII inserts at the cursor; Backspace (0x7f or 0x08) deletes before
 * it; Enter ('\r' or '\n'; "\r\n" counts once) ends the line; the arrows move
 * (Left, Right) and walk the history (Up, Down) as ESC [ A..D or ESC O A..D; Home,
 * End (ESC [ H / F, ESC [ 1~ / 4~, Ctrl-A / Ctrl-E) and Delete (ESC [ 3~) too.
 * Ctrl-U clears the line; Ctrl-C abandons it. Other bytes are ignored.
 *
 * What it echoes uses printable bytes, ' ', '\b' (cursor one column left, nothing
 * erased) and '\n' only, so it redraws correctly on a serial terminal and on the
 * framebuffer console alike: erasing is overwriting with spaces. That is why a
 * line is limited to LINE_EDIT_MAX bytes: with the prompt it stays inside one
 * row of an 80-column terminal, where '\b' cannot go back up a row.
 *
 * History: the last LINE_EDIT_HISTORY non-empty lines, without repeating the
 * newest. Walking it and coming back down restores the line being typed.
 *
 * Pure code (host-tested in tests/host/test_line_edit.c); one editor per reader,
 * no locking of its own.
 *
 * Interrupt context: pure, with the caller's editor state: safe anywhere the
 * caller serialises use of that state (the shell uses it from its thread).
 */
#ifndef EXO_LIB_LINE_EDIT_H
#define EXO_LIB_LINE_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#define LINE_EDIT_MAX 72
#define LINE_EDIT_HISTORY 16

/* Where the echo goes. */
typedef void (*line_echo_fn)(void *ctx, const char *chars, size_t len);

enum line_escape {
    ESCAPE_NONE = 0, /* plain bytes */
    ESCAPE_START,    /* ESC seen */
    ESCAPE_CSI,      /* ESC [ seen: parameters, then a final byte */
    ESCAPE_SS3,      /* ESC O seen: one final byte */
};

struct line_editor {
    char line[LINE_EDIT_MAX + 1];  /* the line being edited, NUL-terminated */
    size_t len;                    /* bytes in line */
    size_t cursor;                 /* 0..len: where the next byte goes */
    char done[LINE_EDIT_MAX + 1];  /* the last line entered, returned by feed */
    char draft[LINE_EDIT_MAX + 1]; /* the new line, kept while walking the history */
    char history[LINE_EDIT_HISTORY][LINE_EDIT_MAX + 1]; /* a ring of entered lines */
    unsigned history_count;                             /* entries held, 0..LINE_EDIT_HISTORY */
    unsigned history_next;                              /* the slot the next entry goes to */
    unsigned browsing;       /* 0: editing the draft; k: showing the k-th newest */
    enum line_escape escape; /* where in an escape sequence we are */
    unsigned csi_param;      /* the first number of an ESC [ n ... sequence */
    bool csi_param_done;     /* a ';' ended the first number */
    bool after_cr;           /* the last byte was '\r' ('\n' now is the same Enter) */
    line_echo_fn echo;
    void *echo_ctx;
};

/* An empty editor with no history, echoing through echo(ctx, ...). */
void line_edit_init(struct line_editor *ed, line_echo_fn echo, void *ctx);

/*
 * Feeds one typed byte. Returns NULL while the line goes on; when the byte ended
 * it, returns the line (without the newline; "" when Ctrl-C abandoned it), valid
 * until the next call. The next byte starts a new line.
 */
const char *line_edit_feed(struct line_editor *ed, char byte);

#endif
