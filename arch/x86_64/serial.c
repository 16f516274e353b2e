#include "serial.h"

#include "apic.h"
#include "ioapic.h"
#include "cpu.h"
#include "kernel/input.h"

#define COM1_PORT 0x3f8
#define UART_DATA 0         /* THR/RBR; divisor low when DLAB=1 */
#define UART_IER 1          /* interrupt enable; divisor high when DLAB=1 */
#define UART_FCR 2          /* FIFO control (write); interrupt identification (read) */
#define UART_IIR 2
#define UART_LCR 3          /* line control */
#define UART_MCR 4          /* modem control */
#define UART_LSR 5          /* line status */
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define FCR_ENABLE_CLEAR 0xc7
#define MCR_DTR_RTS_OUT2 0x0b
#define MCR_LOOPBACK 0x1e
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define IER_RECEIVED_DATA 0x01
#define IER_TX_EMPTY 0x02
#define IIR_ID_MASK 0x0f      /* bit 0 clear: an interrupt pending; bits 1-3: which */
#define IIR_TX_EMPTY 0x02
#define BAUD_DIVISOR 1      /* 115200 / 115200 */
#define LOOPBACK_PROBE 0xae
#define THR_WAIT_LIMIT 100000 /* a wedged UART must not hang the kernel */
#define RX_DRAIN_MAX 4096     /* bytes per interrupt: bounds the loop if the UART is gone */

/* Written once by serial_init on the boot CPU before any output. */
static bool serial_ready;
/* Set once by serial_input_start, on the boot CPU: IRQ 4 is the console's
 * (input_on), or it cannot be routed and the boot CPU's tick polls (polled). */
static bool input_on, polled;

bool serial_init(void)
{
    outb(COM1_PORT + UART_IER, 0);
    outb(COM1_PORT + UART_LCR, LCR_DLAB);
    outb(COM1_PORT + UART_DATA, BAUD_DIVISOR & 0xff);
    outb(COM1_PORT + UART_IER, BAUD_DIVISOR >> 8);
    outb(COM1_PORT + UART_LCR, LCR_8N1);
    outb(COM1_PORT + UART_FCR, FCR_ENABLE_CLEAR);

    /* In loopback mode a byte sent comes straight back: no echo, no UART. */
    outb(COM1_PORT + UART_MCR, MCR_LOOPBACK);
    outb(COM1_PORT + UART_DATA, LOOPBACK_PROBE);
    for (int i = 0; i < THR_WAIT_LIMIT && !(inb(COM1_PORT + UART_LSR) & 1); i++)
        ;
    if (inb(COM1_PORT + UART_DATA) != LOOPBACK_PROBE) {
        serial_ready = false;
        return false;
    }
    outb(COM1_PORT + UART_MCR, MCR_DTR_RTS_OUT2);
    serial_ready = true;
    return true;
}

static void serial_put(char c)
{
    for (int i = 0; i < THR_WAIT_LIMIT; i++) {
        if (inb(COM1_PORT + UART_LSR) & LSR_THR_EMPTY)
            break;
    }
    outb(COM1_PORT + UART_DATA, (uint8_t)c);
}

void serial_write(const char *chars, size_t len)
{
    if (!serial_ready)
        return;
    for (size_t i = 0; i < len; i++) {
        if (chars[i] == '\n')
            serial_put('\r');
        serial_put(chars[i]);
    }
}

/*
 * The receive interrupt: the UART raises it when its FIFO reaches the trigger
 * level, or when bytes have waited there for a few character times. The line is
 * edge-triggered: the handler must empty the FIFO, or no new edge would come.
 */
static void serial_interrupt(void *ctx)
{
    (void)ctx;
    char bytes[16];
    size_t n = 0;
    for (int i = 0; i < RX_DRAIN_MAX && (inb(COM1_PORT + UART_LSR) & LSR_DATA_READY); i++) {
        bytes[n++] = (char)inb(COM1_PORT + UART_DATA);
        if (n == sizeof(bytes)) {
            input_push(bytes, n);
            n = 0;
        }
    }
    if (n)
        input_push(bytes, n);
}

bool serial_input_start(void)
{
    if (!serial_ready)
        return false;
    bool routed = arch_isa_irq_enable(SERIAL_COM1_ISA_IRQ, serial_interrupt, NULL);
    for (int i = 0; i < RX_DRAIN_MAX && (inb(COM1_PORT + UART_LSR) & LSR_DATA_READY); i++)
        (void)inb(COM1_PORT + UART_DATA); /* typed before anyone listened */
    if (!routed) {
        /* The UART works; only its interrupt has no way to a CPU (no I/O APIC
         * without ACPI). The tick reads it instead: at 1 ms a tick, its 16-byte
         * FIFO holds more than 115200 baud brings meanwhile. */
        polled = true;
        apic_poll_on_tick(serial_interrupt, NULL);
        return true;
    }
    input_on = true;
    outb(COM1_PORT + UART_IER, IER_RECEIVED_DATA);
    return true;
}

bool serial_input_polled(void)
{
    return polled;
}

bool serial_input_active(void)
{
    return input_on;
}

void serial_set_tx_empty_interrupt(bool on)
{
    outb(COM1_PORT + UART_IER, (on ? IER_TX_EMPTY : 0) | (input_on ? IER_RECEIVED_DATA : 0));
}

bool serial_ack_tx_empty_interrupt(void)
{
    return (inb(COM1_PORT + UART_IIR) & IIR_ID_MASK) == IIR_TX_EMPTY;
}

bool serial_present(void)
{
    return serial_ready;
}
