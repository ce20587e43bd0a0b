#!/bin/sh
# The guest side of bench/user/run: user-mode work with busybox, each piece
# timed inside the guest, one line each:
#   user NAME MICROSECONDS CHECK
# CHECK (a digest or a count) is the same on every VMM when the guest
# computed the same thing. The inputs come from a counter, never from
# /dev/urandom, so every run does the same work; "user-input BYTES MD5"
# names them. "user begin" and "user whole MICROSECONDS" bracket all the
# pieces, so that the host can time the same span by its own clock.
set -e
cd /tmp

# Nanoseconds of CLOCK_MONOTONIC into T: the third line of /proc/timer_list
# is "now at N nsecs". read is a shell builtin, so taking the time forks
# nothing; /proc/uptime would be fork-free too, but counts in 10 ms steps.
now() {
    { read -r _; read -r _; read -r _ _ T _; } </proc/timer_list
}

# Starts the clock for the next piece of work.
begin() {
    now
    T0=$T
}

# end NAME CHECK: stops the clock and prints the piece's line.
end() {
    now
    echo "user $1 $(((T - T0) / 1000)) $2"
}

# 25,000 lines "COUNTER KEY VALUE" (about 0.53 MB) from a linear
# congruential generator: x * 69069 + 1 mod 2^32 stays below 2^53, so awk's
# doubles compute it exactly. big.txt is four copies (about 2.1 MB).
awk 'BEGIN {
    x = 1
    for (i = 0; i < 25000; i++) {
        x = (x * 69069 + 1) % 4294967296
        printf "%010d k%03d %d\n", x, int(x / 65536) % 1000, i % 9973
    }
}' >text.txt
cat text.txt text.txt text.txt text.txt >big.txt
echo "user-input $(wc -c <text.txt) $(md5sum <text.txt | cut -d' ' -f1)"

now
echo "user begin"
WHOLE=$T
begin
i=0
while [ "$i" -lt 10000 ]; do
    i=$((i + 1))
done
end sh-loop "$i"

begin
md5sum big.txt big.txt big.txt big.txt big.txt big.txt big.txt big.txt >md5.out
end md5sum "$(md5sum <md5.out | cut -d' ' -f1)"

begin
sha256sum big.txt big.txt >sha256.out
end sha256sum "$(sha256sum <sha256.out | cut -d' ' -f1)"

begin
gzip -6 -c big.txt >big.gz
end gzip "$(md5sum <big.gz | cut -d' ' -f1)"

begin
gunzip -c big.gz big.gz >gunzip.out
end gunzip "$(md5sum <gunzip.out | cut -d' ' -f1)"

begin
awk '{ n[$2]++; s[$2] += $3 }
END { for (k in n) t += n[k] * s[k] % 65521; print length(n) "/" t }' text.txt >awk.out
end awk "$(cat awk.out)"

begin
sort text.txt >sort.out
end sort "$(md5sum <sort.out | cut -d' ' -f1)"

begin
i=0
while [ "$i" -lt 200 ]; do
    /bin/true
    i=$((i + 1))
done
end fork-exec "$i"

now
echo "user whole $(((T - WHOLE) / 1000))"
