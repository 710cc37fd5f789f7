package sip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestLogFilterDemote: Demote lowers a record's level (and a demoted record
// below the handler's level is dropped); it cannot raise one; handlers
// derived with With keep it.
func TestLogFilterDemote(t *testing.T) {
	var buf bytes.Buffer
	next := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	log := slog.New(NewLogFilter(next, LogFilterConfig{Demote: func(l slog.Level, msg string) slog.Level {
		switch msg {
		case "routine":
			return slog.LevelWarn
		case "noise":
			return slog.LevelDebug
		case "raise":
			return slog.LevelError
		}
		return l
	}})).With("component", "sipgo")
	log.Error("routine")
	log.Warn("noise")
	log.Info("raise")
	log.Error("other")
	got := buf.String()
	for _, want := range []string{"level=WARN msg=routine", "level=INFO msg=raise", "level=ERROR msg=other"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "noise") {
		t.Errorf("a record demoted below the handler's level was written:\n%s", got)
	}
}

// TestDemoteSipgo: sipgo's errors are written as warnings, its shutdown
// noise as debug; lower levels stay.
func TestDemoteSipgo(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		msg   string
		want  slog.Level
	}{
		{slog.LevelError, "failed to parse", slog.LevelWarn},
		{slog.LevelError, "TCP ref went negative", slog.LevelDebug},
		{slog.LevelWarn, "UDP ref went negative", slog.LevelDebug},
		{slog.LevelInfo, "listening", slog.LevelInfo},
		{slog.LevelDebug, "read", slog.LevelDebug},
	} {
		if got := DemoteSipgo(tc.level, tc.msg); got != tc.want {
			t.Errorf("DemoteSipgo(%v, %q) = %v, want %v", tc.level, tc.msg, got, tc.want)
		}
	}
}
