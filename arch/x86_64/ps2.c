/*
 * The i8042 keyboard controller: two ports, a status/command register and a data
 * register. Setting it up follows the controller's own protocol, with every wait
 * bounded in time, so a missing or wedged controller costs a few milliseconds and
 * a message, never a hang:
 *   1. a status of 0xff means nothing answers on the bus: no controller;
 *   2. both ports off, stale bytes drained, interrupts off in the configuration;
 *   3. the first port's interface test; the port on, with the controller's
 *      translation to scancode set 1 asked for (the decoder takes either set);
 *   4. the keyboard told to scan; its acknowledgement means one is there;
 *   5. IRQ 1 routed, then the controller's interrupt for the port turned on.
 */
#include "ps2.h"

#include "ioapic.h"
#include "arch/cpu.h"
#include "arch/time.h"
#include "cpu.h"
#include "kernel/input.h"
#include "lib/printf.h"
#include "ps2_keymap.h"

#define PS2_DATA 0x60
#define PS2_STATUS 0x64  /* read */
#define PS2_COMMAND 0x64 /* write */

#define STATUS_OUTPUT_FULL 0x01 /* a byte waits in PS2_DATA for us */
#define STATUS_INPUT_FULL 0x02  /* the controller has not taken our last byte */
#define STATUS_AUX_DATA 0x20    /* the waiting byte is from the second (mouse) port */
#define STATUS_NOTHING 0xff     /* an empty bus reads as all ones */

#define CMD_READ_CONFIG 0x20
#define CMD_WRITE_CONFIG 0x60
#define CMD_DISABLE_PORT2 0xa7
#define CMD_TEST_PORT1 0xab
#define CMD_ENABLE_PORT1 0xae
#define CMD_DISABLE_PORT1 0xad
#define TEST_PORT1_PASSED 0x00

#define CONFIG_PORT1_IRQ 0x01
#define CONFIG_PORT2_IRQ 0x02
#define CONFIG_PORT1_CLOCK_OFF 0x10
#define CONFIG_TRANSLATE 0x40

#define KBD_ENABLE_SCANNING 0xf4
#define KBD_ACK 0xfa

#define ISA_IRQ_KEYBOARD 1
#define WAIT_NS 20000000ull /* 20 ms: far longer than any controller takes */
#define DRAIN_MAX 32        /* stale bytes to discard, at most */
#define IRQ_BYTES_MAX 16    /* bytes to take in one interrupt, at most */

/* Changed only by the IRQ 1 handler (boot CPU), and by ps2_keyboard_start before
 * the IRQ is on. */
static struct keymap_decoder decoder;

static bool wait_status(uint8_t mask, bool set)
{
    uint64_t deadline = arch_time_ns() + WAIT_NS;
    do {
        uint8_t status = inb(PS2_STATUS);
        if (((status & mask) != 0) == set)
            return true;
        arch_cpu_relax();
    } while (arch_time_ns() < deadline);
    return false;
}

static bool write_port(uint16_t port, uint8_t value)
{
    if (!wait_status(STATUS_INPUT_FULL, false))
        return false;
    outb(port, value);
    return true;
}

/* The next byte from the controller, or -1 after WAIT_NS. */
static int read_data(void)
{
    if (!wait_status(STATUS_OUTPUT_FULL, true))
        return -1;
    return inb(PS2_DATA);
}

static void drain(void)
{
    for (int i = 0; i < DRAIN_MAX && (inb(PS2_STATUS) & STATUS_OUTPUT_FULL); i++)
        (void)inb(PS2_DATA);
}

static int read_config(void)
{
    return write_port(PS2_COMMAND, CMD_READ_CONFIG) ? read_data() : -1;
}

static bool write_config(uint8_t config)
{
    return write_port(PS2_COMMAND, CMD_WRITE_CONFIG) && write_port(PS2_DATA, config);
}

static void keyboard_interrupt(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < IRQ_BYTES_MAX; i++) {
        uint8_t status = inb(PS2_STATUS);
        if (!(status & STATUS_OUTPUT_FULL))
            break;
        uint8_t byte = inb(PS2_DATA);
        if (status & STATUS_AUX_DATA)
            continue; /* the mouse port is off; a stray byte from it is dropped */
        char typed[KEYMAP_OUT_MAX];
        size_t n = keymap_feed(&decoder, byte, typed);
        if (n)
            input_push(typed, n);
    }
}

/* Steps 1-3 of the top comment; returns the configuration byte, or -1. */
static int controller_setup(void)
{
    if (inb(PS2_STATUS) == STATUS_NOTHING) {
        kprintf("ps2: no keyboard controller\n");
        return -1;
    }
    if (!write_port(PS2_COMMAND, CMD_DISABLE_PORT1) ||
        !write_port(PS2_COMMAND, CMD_DISABLE_PORT2)) {
        kprintf("ps2: the keyboard controller does not take commands\n");
        return -1;
    }
    drain();
    int config = read_config();
    if (config < 0) {
        kprintf("ps2: the keyboard controller does not report its configuration\n");
        return -1;
    }
    config &= ~(CONFIG_PORT1_IRQ | CONFIG_PORT2_IRQ | CONFIG_PORT1_CLOCK_OFF);
    config |= CONFIG_TRANSLATE;
    int test = -1;
    if (write_config((uint8_t)config) && write_port(PS2_COMMAND, CMD_TEST_PORT1))
        test = read_data();
    if (test != TEST_PORT1_PASSED) {
        kprintf("ps2: the keyboard port failed its test (%d)\n", test);
        return -1;
    }
    if (!write_port(PS2_COMMAND, CMD_ENABLE_PORT1))
        return -1;
    return read_config(); /* what the controller actually kept */
}

bool ps2_keyboard_start(void)
{
    int config = controller_setup();
    if (config < 0)
        return false;
    drain();
    int ack = -1;
    if (write_port(PS2_DATA, KBD_ENABLE_SCANNING))
        ack = read_data();
    if (ack != KBD_ACK) {
        kprintf("ps2: no keyboard answers (%d)\n", ack);
        return false;
    }
    bool translated = (config & CONFIG_TRANSLATE) != 0;
    keymap_init(&decoder, !translated);
    if (!arch_isa_irq_enable(ISA_IRQ_KEYBOARD, keyboard_interrupt, NULL))
        return false;
    drain();
    if (!write_config((uint8_t)(config | CONFIG_PORT1_IRQ))) {
        arch_isa_irq_disable(ISA_IRQ_KEYBOARD);
        kprintf("ps2: the keyboard controller refused its interrupt\n");
        return false;
    }
    kprintf("ps2: keyboard on IRQ %d, scancode set %s\n", ISA_IRQ_KEYBOARD,
            translated ? "1 (translated)" : "2");
    return true;
}
