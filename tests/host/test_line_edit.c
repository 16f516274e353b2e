/*
 * Host tests of lib/line_edit.c. The echo goes to a model terminal that knows
 * only what the editor may use (printable bytes, '\b', '\n'); after every key the
 * row it shows must be the editor's line and its cursor the editor's cursor, so
 * what a user sees is checked, not only the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/line_edit.h"

#define TERM_COLUMNS 200

struct terminal {
    char row[TERM_COLUMNS + 1]; /* the current row, blank-padded */
    size_t column;
    char last_row[TERM_COLUMNS + 1]; /* the row a '\n' ended, trailing blanks cut */
    int newlines;
    bool bad_byte; /* something other than printable, '\b', '\n' was echoed */
    size_t widest; /* the furthest column written */
};

static void term_reset(struct terminal *t)
{
    memset(t, 0, sizeof(*t));
    memset(t->row, ' ', TERM_COLUMNS);
}

static void term_echo(void *ctx, const char *chars, size_t len)
{
    struct terminal *t = ctx;
    for (size_t i = 0; i < len; i++) {
        char c = chars[i];
        if (c == '\b') {
            if (t->column > 0)
                t->column--;
        } else if (c == '\n') {
            memcpy(t->last_row, t->row, sizeof(t->row));
            size_t end = TERM_COLUMNS;
            while (end > 0 && t->last_row[end - 1] == ' ')
                end--;
            t->last_row[end] = 0;
            memset(t->row, ' ', TERM_COLUMNS);
            t->column = 0;
            t->newlines++;
        } else if (c >= ' ' && c < 0x7f && t->column < TERM_COLUMNS) {
            t->row[t->column++] = c;
            if (t->column > t->widest)
                t->widest = t->column;
        } else {
            t->bad_byte = true;
        }
    }
}

static struct terminal term;
static struct line_editor ed;

static void fresh(void)
{
    term_reset(&term);
    line_edit_init(&ed, term_echo, &term);
}

/* The screen agrees with the editor: the row shows the line and blanks after it,
 * and the cursor is where the editor thinks. */
static void check_screen(void)
{
    CHECK(!term.bad_byte);
    CHECK_EQ_INT(term.column, ed.cursor);
    CHECK_EQ_INT(strlen(ed.line), ed.len);
    CHECK(memcmp(term.row, ed.line, ed.len) == 0);
    for (size_t i = ed.len; i < TERM_COLUMNS; i++) {
        if (term.row[i] != ' ') {
            fprintf(stderr, "stale '%c' at column %zu after \"%s\"\n", term.row[i], i, ed.line);
            CHECK(term.row[i] == ' ');
            break;
        }
    }
}

/* Types a string; returns the line the last Enter gave, or NULL. */
static const char *type(const char *keys)
{
    const char *line = NULL;
    for (; *keys; keys++) {
        const char *got = line_edit_feed(&ed, *keys);
        if (got)
            line = got;
        check_screen();
    }
    return line;
}

#define UP "\x1b[A"
#define DOWN "\x1b[B"
#define RIGHT "\x1b[C"
#define LEFT "\x1b[D"
#define HOME "\x1b[H"
#define END "\x1b[F"
#define DEL "\x1b[3~"
#define BS "\x7f"

static void test_typed_text_is_echoed_and_returned(void)
{
    fresh();
    CHECK(type("echo hello") == NULL);
    CHECK_EQ_STR(ed.line, "echo hello");
    const char *line = type("\r");
    CHECK(line != NULL);
    CHECK_EQ_STR(line, "echo hello");
    CHECK_EQ_STR(term.last_row, "echo hello");
    CHECK_EQ_INT(term.newlines, 1);
    CHECK_EQ_INT(ed.len, 0);
}

static void test_enter_forms_count_once(void)
{
    fresh();
    CHECK_EQ_STR(type("a\r\n"), "a");
    CHECK_EQ_INT(term.newlines, 1);
    CHECK_EQ_STR(type("b\n"), "b");
    CHECK_EQ_INT(term.newlines, 2);
    CHECK_EQ_STR(type("\r"), "");
    CHECK_EQ_STR(type("\r"), "");
    CHECK_EQ_INT(term.newlines, 4);
    /* "\r\n\n" is one Enter, then an empty line. */
    CHECK_EQ_STR(type("c\r\n\n"), "");
    CHECK_EQ_INT(term.newlines, 6);
}

static void test_backspace_both_codes_and_at_start(void)
{
    fresh();
    type("abcd" BS "\b");
    CHECK_EQ_STR(ed.line, "ab");
    type(BS BS BS BS);
    CHECK_EQ_STR(ed.line, "");
    CHECK_EQ_INT(ed.cursor, 0);
}

static void test_left_right_insert_and_erase_in_the_middle(void)
{
    fresh();
    type("helo" LEFT "l");
    CHECK_EQ_STR(ed.line, "hello");
    CHECK_EQ_INT(ed.cursor, 4);
    type(LEFT LEFT LEFT BS);
    CHECK_EQ_STR(ed.line, "ello");
    CHECK_EQ_INT(ed.cursor, 0);
    type(LEFT "x" RIGHT RIGHT RIGHT RIGHT RIGHT RIGHT "y");
    CHECK_EQ_STR(ed.line, "xelloy");
    CHECK_EQ_STR(type("\r"), "xelloy");
}

static void test_home_end_delete_in_every_form(void)
{
    fresh();
    type("world" HOME "hello ");
    CHECK_EQ_STR(ed.line, "hello world");
    type(END "!"
             "\x01" DEL DEL "\x05"
             "?");
    CHECK_EQ_STR(ed.line, "llo world!?");
    type("\x1b[1~"
         "["
         "\x1b[4~"
         "]"
         "\x1bOH"
         "<"
         "\x1bOF"
         ">");
    CHECK_EQ_STR(ed.line, "<[llo world!?]>");
    type("\x1b[7~"
         "\x1b[3~");
    CHECK_EQ_STR(ed.line, "[llo world!?]>");
    type("\x1b[8~" DEL); /* delete at the end does nothing */
    CHECK_EQ_STR(ed.line, "[llo world!?]>");
    /* Ctrl-Delete (ESC [ 3 ; 5 ~) deletes too: the modifier is ignored. */
    type("\x1bOD\x1bOD"
         "\x1b[3;5~"
         "\x1bOC"
         "_");
    CHECK_EQ_STR(ed.line, "[llo world!?>_");
}

static void test_ctrl_u_clears_and_ctrl_c_abandons(void)
{
    fresh();
    type("some text" LEFT LEFT "\x15");
    CHECK_EQ_STR(ed.line, "");
    CHECK_EQ_STR(type("kept\r"), "kept");
    CHECK_EQ_STR(type("dropped\x03"), "");
    CHECK_EQ_STR(term.last_row, "dropped^C");
    type(UP);
    CHECK_EQ_STR(ed.line, "kept"); /* the abandoned line is not history */
}

static void test_history_walks_and_restores_the_draft(void)
{
    fresh();
    type("one\rtwo\rthree\r");
    type("dra");
    type(UP);
    CHECK_EQ_STR(ed.line, "three");
    type(UP UP);
    CHECK_EQ_STR(ed.line, "one");
    type(UP); /* the oldest: stays */
    CHECK_EQ_STR(ed.line, "one");
    type(DOWN);
    CHECK_EQ_STR(ed.line, "two");
    type(DOWN DOWN);
    CHECK_EQ_STR(ed.line, "dra");
    type(DOWN); /* the draft: stays */
    CHECK_EQ_STR(ed.line, "dra");
    /* A recalled line can be edited and entered. */
    type(BS BS BS UP UP BS "o");
    CHECK_EQ_STR(type("\r"), "two");
    type(UP);
    CHECK_EQ_STR(ed.line, "two");
}

static void test_history_skips_empty_and_repeated_lines(void)
{
    fresh();
    type("a\r\r\ra\ra\rb\r");
    type(UP UP UP);
    CHECK_EQ_STR(ed.line, "a"); /* only "b" and "a" are there */
    CHECK_EQ_INT(ed.history_count, 2);
}

static void test_history_keeps_the_newest(void)
{
    fresh();
    char line[16];
    for (int i = 0; i < LINE_EDIT_HISTORY + 5; i++) {
        snprintf(line, sizeof(line), "cmd%d\r", i);
        type(line);
    }
    CHECK_EQ_INT(ed.history_count, LINE_EDIT_HISTORY);
    for (int i = 0; i < LINE_EDIT_HISTORY + 3; i++)
        type(UP);
    snprintf(line, sizeof(line), "cmd%d", 5);
    CHECK_EQ_STR(ed.line, line);
}

static void test_full_line_ignores_more(void)
{
    fresh();
    for (int i = 0; i < LINE_EDIT_MAX + 10; i++)
        type("x");
    CHECK_EQ_INT(ed.len, LINE_EDIT_MAX);
    type(HOME "y");
    CHECK_EQ_INT(ed.len, LINE_EDIT_MAX);
    CHECK_EQ_INT(term.widest, LINE_EDIT_MAX);
    const char *line = type("\r");
    CHECK_EQ_INT(strlen(line), LINE_EDIT_MAX);
}

static void test_unknown_bytes_and_sequences_are_ignored(void)
{
    fresh();
    type("a\x02\x1b[15~\x1b[Z\t\x80\xff"
         "b");
    CHECK_EQ_STR(ed.line, "ab");
    /* ESC then a plain byte: the byte is typed. */
    type("\x1bx");
    CHECK_EQ_STR(ed.line, "abx");
    /* A control byte inside a sequence ends it and is handled. */
    type("\x1b[1" BS);
    CHECK_EQ_STR(ed.line, "ab");
}

/* ---- a random session against a simple model ---------------------------------- */

struct model {
    char line[LINE_EDIT_MAX + 1];
    size_t len, cursor;
    char history[64][LINE_EDIT_MAX + 1]; /* oldest first, all of it */
    int count;
    int browsing;
    char draft[LINE_EDIT_MAX + 1];
};

static void model_set(struct model *m, const char *text)
{
    snprintf(m->line, sizeof(m->line), "%s", text);
    m->len = m->cursor = strlen(m->line);
}

static void model_key(struct model *m, int key, char c)
{
    int held = m->count < LINE_EDIT_HISTORY ? m->count : LINE_EDIT_HISTORY;
    switch (key) {
    case 0: /* printable */
        if (m->len < LINE_EDIT_MAX) {
            memmove(m->line + m->cursor + 1, m->line + m->cursor, m->len - m->cursor + 1);
            m->line[m->cursor++] = c;
            m->len++;
        }
        break;
    case 1: /* backspace */
        if (m->cursor) {
            memmove(m->line + m->cursor - 1, m->line + m->cursor, m->len - m->cursor + 1);
            m->cursor--;
            m->len--;
        }
        break;
    case 2: /* delete */
        if (m->cursor < m->len) {
            memmove(m->line + m->cursor, m->line + m->cursor + 1, m->len - m->cursor);
            m->len--;
        }
        break;
    case 3:
        m->cursor -= m->cursor > 0;
        break;
    case 4:
        m->cursor += m->cursor < m->len;
        break;
    case 5:
        m->cursor = 0;
        break;
    case 6:
        m->cursor = m->len;
        break;
    case 7: /* up */
        if (m->browsing < held) {
            if (m->browsing == 0)
                strcpy(m->draft, m->line);
            m->browsing++;
            model_set(m, m->history[m->count - m->browsing]);
        }
        break;
    case 8: /* down */
        if (m->browsing > 0) {
            m->browsing--;
            model_set(m, m->browsing ? m->history[m->count - m->browsing] : m->draft);
        }
        break;
    default: /* enter */
        if (m->len && (m->count == 0 || strcmp(m->history[m->count - 1], m->line) != 0)) {
            if (m->count == 64) {
                memmove(m->history[0], m->history[1], sizeof(m->history[0]) * 63);
                m->count--;
            }
            strcpy(m->history[m->count++], m->line);
        }
        model_set(m, "");
        m->browsing = 0;
        break;
    }
}

static const char *const key_bytes[] = {NULL, BS, DEL, LEFT, RIGHT, HOME, END, UP, DOWN, "\r"};

static void test_random_sessions_match_the_model(void)
{
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int session = 0; session < 50; session++) {
        fresh();
        static struct model m;
        memset(&m, 0, sizeof(m));
        for (int step = 0; step < 3000; step++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int key = (int)(x % 16);
            if (key > 9)
                key = 0;                         /* mostly typing */
            char c = (char)('a' + (x >> 8) % 4); /* few letters: repeats in history */
            if (key == 0) {
                char s[2] = {c, 0};
                type(s);
            } else {
                type(key_bytes[key]);
            }
            model_key(&m, key, c);
            if (strcmp(ed.line, m.line) != 0 || ed.cursor != m.cursor) {
                fprintf(stderr, "session %d step %d key %d: editor \"%s\"@%zu, model \"%s\"@%zu\n",
                        session, step, key, ed.line, ed.cursor, m.line, m.cursor);
                CHECK(false);
                return;
            }
        }
    }
}

int main(void)
{
    check_program = "test_line_edit";
    RUN(test_typed_text_is_echoed_and_returned);
    RUN(test_enter_forms_count_once);
    RUN(test_backspace_both_codes_and_at_start);
    RUN(test_left_right_insert_and_erase_in_the_middle);
    RUN(test_home_end_delete_in_every_form);
    RUN(test_ctrl_u_clears_and_ctrl_c_abandons);
    RUN(test_history_walks_and_restores_the_draft);
    RUN(test_history_skips_empty_and_repeated_lines);
    RUN(test_history_keeps_the_newest);
    RUN(test_full_line_ignores_more);
    RUN(test_unknown_bytes_and_sequences_are_ignored);
    RUN(test_random_sessions_match_the_model);
    return check_summary();
}
