//go:build unix

package fdlimit

import (
	"syscall"
	"testing"
)

func TestRaise(t *testing.T) {
	before, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	if before.Hard < 64 {
		t.Skipf("hard limit %d too low to lower the soft one", before.Hard)
	}
	// the limits as the kernel gave them (the fields are int64 on some BSDs)
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	// lower the soft limit as a service manager might have left it
	low := orig
	low.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if got.Hard != before.Hard || (got.Soft != got.Hard && got.Soft != 10240) {
		t.Fatalf("after Raise: %+v (hard before %d)", got, before.Hard)
	}
	if now, _ := Get(); now != got {
		t.Fatalf("Raise returned %+v, Get says %+v", got, now)
	}
}

func TestConnBudget(t *testing.T) {
	for _, tt := range []struct {
		l       Limits
		reserve int
		want    int
	}{
		{Limits{Soft: 1024, Hard: 1024}, 64, 960},
		{Limits{Soft: 10, Hard: 10}, 64, 1},
		{Limits{Soft: 1 << 40, Hard: 1 << 40}, 64, 1 << 30},
	} {
		if got := ConnBudget(tt.l, tt.reserve); got != tt.want {
			t.Errorf("ConnBudget(%+v, %d) = %d, want %d", tt.l, tt.reserve, got, tt.want)
		}
	}
}
