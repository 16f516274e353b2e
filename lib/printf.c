/*
 * The kernel's printf. One engine, format_to, walks the format and emits pieces
 * through an output object; snprintf and the console sink are two such objects.
 */
#include "lib/printf.h"

#include <stdbool.h>
#include <stdint.h>

#include "lib/string.h"

struct output {
    kprintf_sink_fn sink;
    void *ctx;
    size_t produced; /* characters emitted so far, counted past any truncation */
};

static void emit(struct output *out, const char *chars, size_t len)
{
    if (len) {
        out->sink(out->ctx, chars, len);
        out->produced += len;
    }
}

static void emit_repeated(struct output *out, char c, size_t count)
{
    char block[16];
    memset(block, c, sizeof(block));
    while (count) {
        size_t n = count < sizeof(block) ? count : sizeof(block);
        emit(out, block, n);
        count -= n;
    }
}

struct spec {
    bool left, zero, plus, space, alt;
    int width;     /* 0: none */
    int precision; /* -1: none */
    int length;    /* LEN_* */
    char conversion;
};

enum { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LONG_LONG, LEN_SIZE };

/* Digits of value in base, most significant first, into buf (>= 20 bytes).
 * Returns the count. */
static size_t to_digits(uint64_t value, unsigned base, bool upper, char *buf)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char reversed[24];
    size_t n = 0;
    do {
        reversed[n++] = digits[value % base];
        value /= base;
    } while (value);
    for (size_t i = 0; i < n; i++)
        buf[i] = reversed[n - 1 - i];
    return n;
}

/* Lays out [sign or prefix][zeros][digits] in a field of spec->width. */
static void emit_number(struct output *out, const struct spec *spec, uint64_t magnitude,
                        bool negative, unsigned base, bool upper)
{
    char digits[24];
    size_t ndigits = to_digits(magnitude, base, upper, digits);
    const char *prefix = "";
    if (negative)
        prefix = "-";
    else if (spec->plus)
        prefix = "+";
    else if (spec->space)
        prefix = " ";
    else if (spec->alt && base == 16 && magnitude != 0)
        prefix = upper ? "0X" : "0x";
    if (spec->precision == 0 && magnitude == 0)
        ndigits = 0; /* C: zero with precision 0 prints no digits */

    size_t prefix_len = strlen(prefix);
    size_t zeros = 0;
    if (spec->precision >= 0 && (size_t)spec->precision > ndigits)
        zeros = (size_t)spec->precision - ndigits;
    size_t body = prefix_len + zeros + ndigits;
    size_t pad = spec->width > 0 && (size_t)spec->width > body ? (size_t)spec->width - body : 0;
    /* '0' pads with zeros after the sign, unless '-' or a precision says otherwise. */
    if (spec->zero && !spec->left && spec->precision < 0) {
        zeros += pad;
        pad = 0;
    }
    if (!spec->left)
        emit_repeated(out, ' ', pad);
    emit(out, prefix, prefix_len);
    emit_repeated(out, '0', zeros);
    emit(out, digits, ndigits);
    if (spec->left)
        emit_repeated(out, ' ', pad);
}

static void emit_padded(struct output *out, const struct spec *spec, const char *s, size_t len)
{
    size_t pad = spec->width > 0 && (size_t)spec->width > len ? (size_t)spec->width - len : 0;
    if (!spec->left)
        emit_repeated(out, ' ', pad);
    emit(out, s, len);
    if (spec->left)
        emit_repeated(out, ' ', pad);
}

static uint64_t fetch_unsigned(const struct spec *spec, va_list *args)
{
    switch (spec->length) {
    case LEN_CHAR:
        return (unsigned char)va_arg(*args, unsigned int);
    case LEN_SHORT:
        return (unsigned short)va_arg(*args, unsigned int);
    case LEN_LONG:
        return va_arg(*args, unsigned long);
    case LEN_LONG_LONG:
        return va_arg(*args, unsigned long long);
    case LEN_SIZE:
        return va_arg(*args, size_t);
    default:
        return va_arg(*args, unsigned int);
    }
}

static int64_t fetch_signed(const struct spec *spec, va_list *args)
{
    switch (spec->length) {
    case LEN_CHAR:
        return (signed char)va_arg(*args, int);
    case LEN_SHORT:
        return (short)va_arg(*args, int);
    case LEN_LONG:
        return va_arg(*args, long);
    case LEN_LONG_LONG:
        return va_arg(*args, long long);
    case LEN_SIZE:
        return (int64_t)va_arg(*args, size_t);
    default:
        return va_arg(*args, int);
    }
}

/* Parses flags, width, precision and length after a '%'. Returns the position of
 * the conversion character. */
static const char *parse_spec(const char *p, struct spec *spec, va_list *args)
{
    *spec = (struct spec){.precision = -1};
    for (;; p++) {
        if (*p == '-')
            spec->left = true;
        else if (*p == '0')
            spec->zero = true;
        else if (*p == '+')
            spec->plus = true;
        else if (*p == ' ')
            spec->space = true;
        else if (*p == '#')
            spec->alt = true;
        else
            break;
    }
    if (*p == '*') {
        spec->width = va_arg(*args, int);
        if (spec->width < 0) { /* C: a negative '*' width means '-' */
            spec->left = true;
            spec->width = -spec->width;
        }
        p++;
    } else {
        while (*p >= '0' && *p <= '9')
            spec->width = spec->width * 10 + (*p++ - '0');
    }
    if (*p == '.') {
        p++;
        spec->precision = 0;
        if (*p == '*') {
            spec->precision = va_arg(*args, int);
            if (spec->precision < 0)
                spec->precision = -1;
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                spec->precision = spec->precision * 10 + (*p++ - '0');
        }
    }
    if (p[0] == 'h' && p[1] == 'h') {
        spec->length = LEN_CHAR;
        p += 2;
    } else if (p[0] == 'h') {
        spec->length = LEN_SHORT;
        p++;
    } else if (p[0] == 'l' && p[1] == 'l') {
        spec->length = LEN_LONG_LONG;
        p += 2;
    } else if (p[0] == 'l') {
        spec->length = LEN_LONG;
        p++;
    } else if (p[0] == 'z') {
        spec->length = LEN_SIZE;
        p++;
    }
    return p;
}

/* Emits one conversion; returns false when the conversion is unknown. */
static bool emit_conversion(struct output *out, struct spec *spec, va_list *args)
{
    switch (spec->conversion) {
    case 'd':
    case 'i': {
        int64_t v = fetch_signed(spec, args);
        uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        emit_number(out, spec, magnitude, v < 0, 10, false);
        return true;
    }
    case 'u':
    case 'x':
    case 'X':
        spec->plus = spec->space = false; /* C: '+' and ' ' apply to signed conversions only */
        emit_number(out, spec, fetch_unsigned(spec, args), false,
                    spec->conversion == 'u' ? 10 : 16, spec->conversion == 'X');
        return true;
    case 'p': {
        struct spec p = {.zero = true, .precision = -1, .width = 16};
        emit(out, "0x", 2);
        emit_number(out, &p, (uint64_t)(uintptr_t)va_arg(*args, void *), false, 16, false);
        return true;
    }
    case 'c': {
        char c = (char)va_arg(*args, int);
        emit_padded(out, spec, &c, 1);
        return true;
    }
    case 's': {
        const char *s = va_arg(*args, const char *);
        if (!s)
            s = "(null)";
        size_t len = spec->precision >= 0 ? strnlen(s, (size_t)spec->precision) : strlen(s);
        emit_padded(out, spec, s, len);
        return true;
    }
    case '%':
        emit(out, "%", 1);
        return true;
    default:
        return false;
    }
}

static size_t format_to(struct output *out, const char *fmt, va_list args_in)
{
    va_list args;
    va_copy(args, args_in);
    const char *p = fmt;
    while (*p) {
        const char *next = strchr(p, '%');
        if (!next) {
            emit(out, p, strlen(p));
            break;
        }
        emit(out, p, (size_t)(next - p));
        struct spec spec;
        const char *conv = parse_spec(next + 1, &spec, &args);
        spec.conversion = *conv;
        if (*conv == '\0' || !emit_conversion(out, &spec, &args)) {
            /* Unknown or cut-off conversion: show it as written. */
            size_t len = (size_t)(conv - next) + (*conv ? 1 : 0);
            emit(out, next, len);
        }
        p = *conv ? conv + 1 : conv;
    }
    va_end(args);
    return out->produced;
}

int kvprintf_to(kprintf_sink_fn sink, void *ctx, const char *fmt, va_list args)
{
    struct output out = {sink, ctx, 0};
    return (int)format_to(&out, fmt, args);
}

struct buffer {
    char *buf;
    size_t size; /* capacity including the terminating NUL */
    size_t used;
};

static void buffer_sink(void *ctx, const char *chars, size_t len)
{
    struct buffer *b = ctx;
    if (b->size == 0)
        return;
    size_t room = b->size - 1 - b->used;
    size_t n = len < room ? len : room;
    memcpy(b->buf + b->used, chars, n);
    b->used += n;
}

int kvsnprintf(char *buf, size_t buf_size, const char *fmt, va_list args)
{
    struct buffer b = {buf, buf_size, 0};
    int n = kvprintf_to(buffer_sink, &b, fmt, args);
    if (buf_size > 0)
        buf[b.used] = '\0';
    return n;
}

int ksnprintf(char *buf, size_t buf_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = kvsnprintf(buf, buf_size, fmt, args);
    va_end(args);
    return n;
}

static kprintf_output_fn kprintf_output;

void kprintf_set_output(kprintf_output_fn output)
{
    kprintf_output = output;
}

int kvprintf(const char *fmt, va_list args)
{
    kprintf_output_fn output = kprintf_output;
    return output ? output(fmt, args) : 0;
}

int kprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = kvprintf(fmt, args);
    va_end(args);
    return n;
}
