# Turns `nm -n --defined-only` output of the kernel into the assembly of its symbol
# table (see include/lib/ksyms.h): text symbols in the higher half only, sorted
# by address, names in one string blob.
# n starts as the number 0: an unset variable used as a subscript is "", not 0.
BEGIN {
    n = 0
}
$2 ~ /^[tTwW]$/ && $1 ~ /^ffffffff8/ {
    addr[n] = $1
    name[n] = $3
    n++
}
END {
    print "    .section .ksyms, \"a\""
    print "    .balign 8"
    print "    .globl ksym_table_count"
    print "ksym_table_count:"
    printf "    .quad %d\n", n
    print "    .globl ksym_table"
    print "ksym_table:"
    offset = 0
    for (i = 0; i < n; i++) {
        printf "    .quad 0x%s\n    .long %d, 0\n", addr[i], offset
        offset += length(name[i]) + 1
    }
    print "    .globl ksym_names"
    print "ksym_names:"
    for (i = 0; i < n; i++)
        printf "    .asciz \"%s\"\n", name[i]
    print "    .section .note.GNU-stack, \"\", @progbits"
}
