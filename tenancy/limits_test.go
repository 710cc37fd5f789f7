package tenancy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/storetest"
)

func TestLocalLimiter(t *testing.T) {
	storetest.RunLimiterTests(t, func(*testing.T) tenancy.SessionLimiter { return &tenancy.LocalLimiter{} })
}

func TestLocalUsage(t *testing.T) {
	storetest.RunUsageTests(t, func(*testing.T) tenancy.UsageCounter { return &tenancy.LocalUsage{} })
}

func TestSIPStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{&tenancy.LimitError{Limit: 1, InUse: 1}, 486},
		{fmt.Errorf("start: %w", tenancy.ErrQuotaExhausted), 486},
		{fmt.Errorf("%w: database is locked", tenancy.ErrLimiterUnavailable), 503},
		{errors.New("anything else"), 503},
	} {
		if code, _ := tenancy.SIPStatus(tc.err); code != tc.code {
			t.Errorf("SIPStatus(%v) = %d, want %d", tc.err, code, tc.code)
		}
	}
}

func TestSessionLimit(t *testing.T) {
	for _, tc := range []struct {
		unit                tenancy.Unit
		max, licensed, want int
	}{
		{"", 0, 0, 0},
		{tenancy.UnitSessions, 0, 10, 10},
		{tenancy.UnitSessions, 5, 10, 5},
		{tenancy.UnitSessions, 20, 10, 10},
		{tenancy.UnitSessions, 7, 0, 7},
		{tenancy.UnitMinutes, 5000, 10, 10}, // minutes do not cap sessions
		{tenancy.UnitMinutes, 5000, 0, 0},
	} {
		a := &tenancy.Account{Unit: tc.unit, MaxUnits: tc.max, LicensedSessions: tc.licensed}
		if got := a.SessionLimit(); got != tc.want {
			t.Errorf("%+v: SessionLimit = %d, want %d", tc, got, tc.want)
		}
	}
}

func TestCheckQuota(t *testing.T) {
	for _, tc := range []struct {
		name string
		acct tenancy.Account
		used int64
		want error
	}{
		{"sessions unit ignores minutes", tenancy.Account{Unit: tenancy.UnitSessions, MaxUnits: 10}, 100, nil},
		{"no maximum", tenancy.Account{Unit: tenancy.UnitMinutes}, 100, nil},
		{"under", tenancy.Account{Unit: tenancy.UnitMinutes, MaxUnits: 10}, 9, nil},
		{"at", tenancy.Account{Unit: tenancy.UnitMinutes, MaxUnits: 10}, 10, tenancy.ErrQuotaExhausted},
		{"over", tenancy.Account{Unit: tenancy.UnitMinutes, MaxUnits: 10}, 11, tenancy.ErrQuotaExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenancy.CheckQuota(&tc.acct, tenancy.Usage{Minutes: tc.used})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckQuota = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBilledMinutes(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		-time.Second: 0, 0: 0, time.Millisecond: 1, time.Minute: 1, time.Minute + time.Nanosecond: 2, 150 * time.Second: 3,
	} {
		if got := tenancy.BilledMinutes(d); got != want {
			t.Errorf("BilledMinutes(%v) = %d, want %d", d, got, want)
		}
	}
}
