/* arch_input_start: the x86_64 consoles' input, the PS/2 keyboard and COM1. */
#include "arch/platform.h"
#include "lib/printf.h"
#include "ps2.h"
#include "serial.h"

void arch_input_start(void)
{
    bool keyboard = ps2_keyboard_start();
    bool serial = serial_input_start();
    if (!keyboard && !serial)
        kprintf("input: none: neither a PS/2 keyboard nor a serial port answers\n");
    else
        kprintf("input: %s%s%s\n", keyboard ? "PS/2 keyboard" : "", keyboard && serial ? ", " : "",
                !serial ? ""
                : serial_input_polled() ? "COM1, polled on every tick (its IRQ cannot be routed)"
                                        : "COM1");
}
