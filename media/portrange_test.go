package media

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestParsePortRange: ranges parse; a bad one wraps ErrPortRange, naming
// it and why; what parses makes a PortPool.
func TestParsePortRange(t *testing.T) {
	for s, want := range map[string][2]int{"20000-39999": {20000, 39999}, " 1024 - 1027 ": {1024, 1027}, "65534-65535": {65534, 65535}, "5-7": {5, 7}} {
		lo, hi, err := ParsePortRange(s)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("ParsePortRange(%q) = %d-%d, %v", s, lo, hi, err)
		}
	}
	for s, why := range map[string]string{"30000": "MIN-MAX", "a-b": "MIN-MAX", "0-100": "1-65535", "40000-30000": "MIN first",
		"60000-70000": "1-65535", "5-6": "no even RTP port", "20000-39999-1": "MIN-MAX"} {
		_, _, err := ParsePortRange(s)
		if !errors.Is(err, ErrPortRange) || !strings.Contains(err.Error(), strconv.Quote(s)) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParsePortRange(%q) = %v, want ErrPortRange naming it: %s", s, err, why)
		}
	}
}

// FuzzParsePortRange checks that an accepted range makes a PortPool and
// prints as MIN-MAX parsing back to itself, and that a refused one gives
// nothing but the error.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"20000-39999", " 1024 - 1027 ", "65532-65535", "1023-2000", "2000-2002",
		"30000", "40000-30000", "+2000-3000", "0x400-2000", "-1-5", "20000-39999-1", "5-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		if err != nil {
			if lo != 0 || hi != 0 || !errors.Is(err, ErrPortRange) {
				t.Fatalf("ParsePortRange(%q) refused (%v) but returned %d-%d", s, err, lo, hi)
			}
			return
		}
		if _, err := NewPortPool(PortPoolConfig{MinPort: lo, MaxPort: hi}); err != nil {
			t.Fatalf("ParsePortRange(%q) accepted %d-%d, which NewPortPool refuses: %v", s, lo, hi, err)
		}
		canon := strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
		lo2, hi2, err := ParsePortRange(canon)
		if err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("ParsePortRange(%q) = %d-%d, but %q parses to %d-%d (%v)", s, lo, hi, canon, lo2, hi2, err)
		}
	})
}
