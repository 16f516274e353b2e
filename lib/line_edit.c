#include "lib/line_edit.h"

#include "lib/string.h"

#define KEY_ESCAPE 0x1b
#define KEY_DELETE 0x7f
#define KEY_BACKSPACE 0x08
#define CTRL(letter) ((letter)&0x1f)
#define CSI_PARAM_MAX 1000 /* larger numbers are no key we know */

void line_edit_init(struct line_editor *ed, line_echo_fn echo, void *ctx)
{
    memset(ed, 0, sizeof(*ed));
    ed->echo = echo;
    ed->echo_ctx = ctx;
}

/* ---- echo ------------------------------------------------------------------- */

static void echo(struct line_editor *ed, const char *chars, size_t len)
{
    if (len)
        ed->echo(ed->echo_ctx, chars, len);
}

static void echo_repeat(struct line_editor *ed, char c, size_t count)
{
    char run[16];
    memset(run, c, sizeof(run));
    while (count) {
        size_t n = count < sizeof(run) ? count : sizeof(run);
        echo(ed, run, n);
        count -= n;
    }
}

/* Redraws from the cursor to the end of the line, plus `blanks` spaces over what
 * the line used to cover, and puts the terminal's cursor back. */
static void redraw_tail(struct line_editor *ed, size_t blanks)
{
    echo(ed, ed->line + ed->cursor, ed->len - ed->cursor);
    echo_repeat(ed, ' ', blanks);
    echo_repeat(ed, '\b', ed->len - ed->cursor + blanks);
}

/* ---- editing ------------------------------------------------------------------ */

static void insert(struct line_editor *ed, char c)
{
    if (ed->len == LINE_EDIT_MAX)
        return;
    memmove(ed->line + ed->cursor + 1, ed->line + ed->cursor, ed->len - ed->cursor);
    ed->line[ed->cursor] = c;
    ed->line[++ed->len] = 0;
    echo(ed, &c, 1);
    ed->cursor++;
    redraw_tail(ed, 0);
}

static void delete_at_cursor(struct line_editor *ed)
{
    if (ed->cursor == ed->len)
        return;
    memmove(ed->line + ed->cursor, ed->line + ed->cursor + 1, ed->len - ed->cursor);
    ed->len--;
    redraw_tail(ed, 1);
}

static void backspace(struct line_editor *ed)
{
    if (ed->cursor == 0)
        return;
    ed->cursor--;
    echo(ed, "\b", 1);
    delete_at_cursor(ed);
}

static void move_to(struct line_editor *ed, size_t column)
{
    if (column < ed->cursor)
        echo_repeat(ed, '\b', ed->cursor - column);
    else
        echo(ed, ed->line + ed->cursor, column - ed->cursor);
    ed->cursor = column;
}

/* Shows `text` in place of the whole line, cursor at its end. */
static void replace_line(struct line_editor *ed, const char *text)
{
    size_t old_len = ed->len;
    move_to(ed, 0);
    ed->len = strnlen(text, LINE_EDIT_MAX);
    memmove(ed->line, text, ed->len);
    ed->line[ed->len] = 0;
    redraw_tail(ed, old_len > ed->len ? old_len - ed->len : 0);
    move_to(ed, ed->len);
}

/* ---- history ------------------------------------------------------------------ */

/* The k-th newest entry, 1 <= k <= history_count. */
static const char *history_entry(const struct line_editor *ed, unsigned k)
{
    return ed->history[(ed->history_next + LINE_EDIT_HISTORY - k) % LINE_EDIT_HISTORY];
}

static void history_add(struct line_editor *ed, const char *line)
{
    if (!line[0] || (ed->history_count && strcmp(history_entry(ed, 1), line) == 0))
        return;
    memcpy(ed->history[ed->history_next], line, strnlen(line, LINE_EDIT_MAX) + 1);
    ed->history_next = (ed->history_next + 1) % LINE_EDIT_HISTORY;
    if (ed->history_count < LINE_EDIT_HISTORY)
        ed->history_count++;
}

static void history_older(struct line_editor *ed)
{
    if (ed->browsing == ed->history_count)
        return;
    if (ed->browsing == 0)
        memcpy(ed->draft, ed->line, ed->len + 1);
    ed->browsing++;
    replace_line(ed, history_entry(ed, ed->browsing));
}

static void history_newer(struct line_editor *ed)
{
    if (ed->browsing == 0)
        return;
    ed->browsing--;
    replace_line(ed, ed->browsing ? history_entry(ed, ed->browsing) : ed->draft);
}

/* ---- whole lines ---------------------------------------------------------------- */

static const char *finish_line(struct line_editor *ed, bool keep)
{
    if (keep) {
        memcpy(ed->done, ed->line, ed->len + 1);
        history_add(ed, ed->done);
    } else {
        ed->done[0] = 0;
    }
    ed->line[0] = 0;
    ed->len = ed->cursor = 0;
    ed->browsing = 0;
    return ed->done;
}

/* ---- escape sequences ------------------------------------------------------------ */

static void escape_key(struct line_editor *ed, char final, unsigned param)
{
    switch (final) {
    case 'A':
        history_older(ed);
        break;
    case 'B':
        history_newer(ed);
        break;
    case 'C':
        move_to(ed, ed->cursor < ed->len ? ed->cursor + 1 : ed->len);
        break;
    case 'D':
        move_to(ed, ed->cursor ? ed->cursor - 1 : 0);
        break;
    case 'H':
        move_to(ed, 0);
        break;
    case 'F':
        move_to(ed, ed->len);
        break;
    case '~':
        if (param == 1 || param == 7)
            move_to(ed, 0);
        else if (param == 4 || param == 8)
            move_to(ed, ed->len);
        else if (param == 3)
            delete_at_cursor(ed);
        break;
    default:
        break; /* a key we do not edit with */
    }
}

/* Consumes one byte of an escape sequence; false when the byte ended the
 * sequence without belonging to it (it is then handled as a plain byte). */
static bool escape_byte(struct line_editor *ed, char byte)
{
    unsigned char b = (unsigned char)byte;
    if (b < 0x20 || b >= 0x7f) {
        ed->escape = ESCAPE_NONE;
        return false;
    }
    switch (ed->escape) {
    case ESCAPE_START:
        ed->escape = byte == '[' ? ESCAPE_CSI : byte == 'O' ? ESCAPE_SS3 : ESCAPE_NONE;
        ed->csi_param = 0;
        ed->csi_param_done = false;
        return ed->escape != ESCAPE_NONE;
    case ESCAPE_SS3:
        ed->escape = ESCAPE_NONE;
        escape_key(ed, byte, 0);
        return true;
    default: /* ESCAPE_CSI */
        if (byte >= '0' && byte <= '9') {
            if (!ed->csi_param_done && ed->csi_param < CSI_PARAM_MAX)
                ed->csi_param = ed->csi_param * 10 + (unsigned)(byte - '0');
        } else if (byte == ';') {
            ed->csi_param_done = true;
        } else if (b >= 0x40) {
            ed->escape = ESCAPE_NONE;
            escape_key(ed, byte, ed->csi_param);
        }
        return true;
    }
}

const char *line_edit_feed(struct line_editor *ed, char byte)
{
    bool after_cr = ed->after_cr;
    ed->after_cr = false;
    if (ed->escape != ESCAPE_NONE && escape_byte(ed, byte))
        return NULL;
    switch (byte) {
    case '\r':
        ed->after_cr = true;
        echo(ed, "\n", 1);
        return finish_line(ed, true);
    case '\n':
        if (after_cr)
            return NULL; /* the second half of a "\r\n" */
        echo(ed, "\n", 1);
        return finish_line(ed, true);
    case CTRL('C'):
        echo(ed, "^C\n", 3);
        return finish_line(ed, false);
    case KEY_ESCAPE:
        ed->escape = ESCAPE_START;
        break;
    case KEY_DELETE:
    case KEY_BACKSPACE:
        backspace(ed);
        break;
    case CTRL('A'):
        move_to(ed, 0);
        break;
    case CTRL('E'):
        move_to(ed, ed->len);
        break;
    case CTRL('U'):
        replace_line(ed, "");
        break;
    default:
        if (byte >= ' ' && byte < KEY_DELETE)
            insert(ed, byte);
        break;
    }
    return NULL;
}
