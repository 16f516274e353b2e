/*
 * The wall clock at boot from the CMOS real-time clock (include/arch/time.h).
 * The RTC counts seconds in BCD or binary, 12- or 24-hour, as register B says;
 * a read is taken only outside an update (register A's UIP) and repeated until
 * two agree, so a second that ticks over mid-read is never half-read.
 */
#include "arch/irq.h"
#include "arch/time.h"
#include "cpu.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_NMI_OFF 0x80
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_A_UPDATING 0x80
#define RTC_B_24_HOUR 0x02
#define RTC_B_BINARY 0x04
#define RTC_HOUR_PM 0x80

struct rtc_time {
    unsigned second, minute, hour, day, month, year;
};

static unsigned cmos_read(unsigned reg)
{
    outb(CMOS_INDEX, (uint8_t)(CMOS_NMI_OFF | reg));
    return inb(CMOS_DATA);
}

static void read_raw(struct rtc_time *t)
{
    for (int spins = 0; spins < 1000000 && (cmos_read(RTC_STATUS_A) & RTC_A_UPDATING); spins++) {
    }
    *t = (struct rtc_time){cmos_read(RTC_SECONDS), cmos_read(RTC_MINUTES), cmos_read(RTC_HOURS),
                           cmos_read(RTC_DAY),     cmos_read(RTC_MONTH),   cmos_read(RTC_YEAR)};
}

static unsigned from_bcd(unsigned v)
{
    return (v & 0x0f) + (v >> 4) * 10;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

uint64_t arch_wall_clock_seconds(void)
{
    bool irq = arch_irq_save_disable();
    struct rtc_time a, b;
    read_raw(&b);
    do {
        a = b;
        read_raw(&b);
    } while (a.second != b.second || a.minute != b.minute || a.hour != b.hour ||
             a.day != b.day || a.month != b.month || a.year != b.year);
    unsigned status_b = cmos_read(RTC_STATUS_B);
    arch_irq_restore(irq);
    bool pm = (a.hour & RTC_HOUR_PM) != 0;
    a.hour &= ~(unsigned)RTC_HOUR_PM;
    if (!(status_b & RTC_B_BINARY)) {
        a.second = from_bcd(a.second), a.minute = from_bcd(a.minute);
        a.hour = from_bcd(a.hour), a.day = from_bcd(a.day);
        a.month = from_bcd(a.month), a.year = from_bcd(a.year);
    }
    if (!(status_b & RTC_B_24_HOUR))
        a.hour = a.hour % 12 + (pm ? 12 : 0);
    if (a.month < 1 || a.month > 12 || a.day < 1 || a.day > 31)
        return 0; /* no sensible clock */
    int64_t days = days_from_civil(2000 + (int64_t)a.year, a.month, a.day);
    return (uint64_t)(days * 86400 + a.hour * 3600 + a.minute * 60 + a.second);
}
