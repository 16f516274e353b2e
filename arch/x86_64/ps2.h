/*
 * ps2: the keyboard on an i8042 PS/2 controller (or the firmware's emulation of
 * one for a USB keyboard). Key presses arrive on ISA IRQ 1, are decoded by
 * ps2_keymap into terminal bytes and go to the console input queue
 * (kernel/input.h). The mouse port stays disabled.
 */
#ifndef EXO_ARCH_X86_64_PS2_H
#define EXO_ARCH_X86_64_PS2_H

#include <stdbool.h>

/* Finds and sets up the controller and keyboard, then takes IRQ 1. Prints what
 * it found; false (after saying why) when there is no usable keyboard. Boot CPU,
 * after the interrupt controllers are up. */
bool ps2_keyboard_start(void);

#endif
