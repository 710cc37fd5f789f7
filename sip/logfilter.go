package sip

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// LogFilterConfig configures NewLogFilter. The zero value works.
type LogFilterConfig struct {
	// MaxValueLen bounds each logged string, the message and every
	// attribute value: a longer one is cut to an excerpt of this many
	// bytes followed by "…[N bytes]". Default 200; negative: no bound.
	MaxValueLen int
	// Burst is how many lines with the same message are written per
	// Interval; the rest are dropped and counted, and the next line let
	// through carries the count as the attribute "suppressed". Default 10;
	// negative: no rate limit.
	Burst int
	// Interval is the rate limit's period. Default 1 minute.
	Interval time.Duration
	// Now is the clock of the rate limit. Default time.Now.
	Now func() time.Time
	// Demote returns the level a record with this level and message is
	// written at, for a caller that knows some of a library's lines for
	// routine (sipgo's transport errors about one peer). Only a lower
	// level is taken; nil keeps every record's level.
	Demote func(level slog.Level, msg string) slog.Level
}

// DemoteSipgo is a LogFilterConfig.Demote for sipgo's lines (its
// transport and transaction layers' loggers, and the program's
// sipgosip.SetDefaultLogger): its errors are about one peer (a response it
// no longer takes, a connection it closed), so they are written as
// warnings; "TCP ref went negative" (and its UDP and WS forms), which
// sipgo v1.x writes at every shutdown, as debug.
func DemoteSipgo(level slog.Level, msg string) slog.Level {
	if strings.Contains(msg, "ref went negative") {
		return slog.LevelDebug
	}
	return min(level, slog.LevelWarn)
}

// Defaults of LogFilterConfig. DefaultLogInterval is also the least time
// between two lines of one kind of a Listener's and a PacketConn's.
const (
	DefaultLogMaxValueLen = 200
	DefaultLogBurst       = 10
	DefaultLogInterval    = time.Minute
)

// redacted replaces what a log line may not show.
const redacted = "[redacted]"

// NewLogFilter returns a slog.Handler that passes records to next with
// what a peer sent made safe to log. It is meant for the logger handed to
// sipgo (sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(…)),
// the transaction layer's and the server's, and the program's
// sipgosip.SetDefaultLogger), which logs whole messages at ERROR when they
// fail to parse (sipgo v1.7.2: "failed to parse" with the raw datagram or
// TCP read as "data", up to 32 KiB each; a UDP datagram over that size
// always fails) and header lines inside parse errors. In the message and
// every attribute value (errors, Stringers, groups and LogValuers
// included, and attributes added with With):
//
//   - the value of every Authorization, Proxy-Authorization,
//     WWW-Authenticate, Proxy-Authenticate and Authentication-Info header
//     is replaced by "[redacted]", as is the rest of any line holding a
//     digest parameter (response=, nonce=, cnonce=, nextnonce=, rspauth=),
//     and the folded continuation lines after them: nothing that could
//     check a password offline is written. Lines are split at CR and LF
//     and at their escaped forms \r and \n (a message quoted with %q);
//   - then the value is cut to MaxValueLen bytes;
//   - lines are rate-limited per message (Burst per Interval), so a flood
//     of unparsable datagrams writes a few lines, not one per datagram.
//
// Record levels and times are kept; Enabled is next's.
func NewLogFilter(next slog.Handler, cfg LogFilterConfig) slog.Handler {
	if cfg.MaxValueLen == 0 {
		cfg.MaxValueLen = DefaultLogMaxValueLen
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultLogBurst
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultLogInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &logFilter{next: next, max: cfg.MaxValueLen, demote: cfg.Demote, lim: &logLimiter{burst: cfg.Burst, interval: cfg.Interval, now: cfg.Now}}
}

// FilterLogger returns a logger writing through NewLogFilter to l's
// handler; a nil l gives a logger that discards.
func FilterLogger(l *slog.Logger, cfg LogFilterConfig) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(NewLogFilter(l.Handler(), cfg))
}

type logFilter struct {
	next   slog.Handler
	max    int
	demote func(slog.Level, string) slog.Level
	lim    *logLimiter // shared by the handlers derived with WithAttrs/WithGroup
}

func (f *logFilter) Enabled(ctx context.Context, level slog.Level) bool {
	return f.next.Enabled(ctx, level)
}

func (f *logFilter) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if f.demote != nil {
		if l := f.demote(r.Level, r.Message); l < level {
			if !f.next.Enabled(ctx, l) {
				return nil
			}
			level = l
		}
	}
	suppressed, ok := f.lim.allow(r.Message)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, level, f.clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(f.cleanAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return f.next.Handle(ctx, out)
}

func (f *logFilter) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = f.cleanAttr(a)
	}
	return &logFilter{next: f.next.WithAttrs(clean), max: f.max, demote: f.demote, lim: f.lim}
}

func (f *logFilter) WithGroup(name string) slog.Handler {
	return &logFilter{next: f.next.WithGroup(f.clean(name)), max: f.max, demote: f.demote, lim: f.lim}
}

// cleanAttr returns a with every string in it redacted and bounded; values
// of other kinds than strings, numbers, times and groups are logged as
// their cleaned text.
func (f *logFilter) cleanAttr(a slog.Attr) slog.Attr {
	a.Key = f.clean(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(f.clean(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = f.cleanAttr(x)
		}
		a.Value = slog.GroupValue(out...)
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprint(x)
		}
		a.Value = slog.StringValue(f.clean(s))
	default:
		a.Value = v
	}
	return a
}

// clean redacts s and cuts it to the bound.
func (f *logFilter) clean(s string) string {
	return Excerpt(RedactSIP(s), f.max)
}

// Excerpt returns s cut to at most max bytes (at a UTF-8 boundary)
// followed by "…[N bytes]" giving the full length; s itself when it fits
// or max is negative.
func Excerpt(s string, max int) string {
	if max < 0 || len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[" + strconv.Itoa(len(s)) + " bytes]"
}

// The markers RedactSIP looks for, lower case: header names whose value is
// digest material, and digest parameters (which a folded header line can
// carry on a line of its own).
var (
	authHeaderMarkers = []string{"authorization", "authenticate", "authentication-info"}
	digestParams      = []string{"response", "nonce", "rspauth"} // "nonce" also finds cnonce and nextnonce
)

// RedactSIP returns s with digest material removed: in every line (split
// at CR, LF and their escaped forms \r and \n) that names an
// Authorization, Proxy-Authorization, WWW-Authenticate,
// Proxy-Authenticate or Authentication-Info header, everything after the
// header name is replaced by "[redacted]"; in every line holding a digest
// parameter (response=, nonce=, cnonce=, nextnonce=, rspauth=), the rest of
// the line from the parameter; and a redacted line's folded continuation
// lines (starting with a space or tab) are replaced whole. A string with
// none of these is returned unchanged. NewLogFilter applies it to
// everything it logs.
func RedactSIP(s string) string {
	if !mayHoldDigest(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	folded := false // the previous line was redacted: continuations go too
	for len(s) > 0 {
		line, brk, rest := nextLogLine(s)
		if folded && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, `\t`)) {
			b.WriteString(redacted)
		} else if at := redactFrom(line); at >= 0 {
			b.WriteString(line[:at])
			b.WriteString(redacted)
			folded = true
		} else {
			b.WriteString(line)
			folded = false
		}
		b.WriteString(brk)
		s = rest
	}
	return b.String()
}

// mayHoldDigest is a quick check that s names one of the markers.
func mayHoldDigest(s string) bool {
	for _, m := range authHeaderMarkers {
		if indexFold(s, m) >= 0 {
			return true
		}
	}
	for _, m := range digestParams {
		if indexFold(s, m) >= 0 {
			return true
		}
	}
	return false
}

// nextLogLine splits s at its first line break (CRLF, CR, LF, or the
// escaped \r\n, \r, \n): the line, the break itself, and what follows.
func nextLogLine(s string) (line, brk, rest string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			j := i + 1
			if c == '\r' && j < len(s) && s[j] == '\n' {
				j++
			}
			return s[:i], s[i:j], s[j:]
		case c == '\\' && i+1 < len(s) && (s[i+1] == 'r' || s[i+1] == 'n'):
			j := i + 2
			if s[i+1] == 'r' && j+1 < len(s) && s[j] == '\\' && s[j+1] == 'n' {
				j += 2
			}
			return s[:i], s[i:j], s[j:]
		}
	}
	return s, "", ""
}

// redactFrom returns where line's secret part starts (just after an
// authentication header's name, or at a digest parameter), or -1.
func redactFrom(line string) int {
	at := -1
	for _, m := range authHeaderMarkers {
		if i := indexFold(line, m); i >= 0 {
			end := i + len(m)
			// keep a colon right after the name, so the line still reads as a header
			colon := end
			for colon < len(line) && (line[colon] == ' ' || line[colon] == '\t') {
				colon++
			}
			if colon < len(line) && line[colon] == ':' {
				end = colon + 1
			}
			if at < 0 || end < at {
				at = end
			}
		}
	}
	for _, m := range digestParams {
		for off := 0; off < len(line); {
			i := indexFold(line[off:], m)
			if i < 0 {
				break
			}
			i += off
			j := i + len(m)
			for j < len(line) && (line[j] == ' ' || line[j] == '\t' || line[j] == '\\' || line[j] == '"') {
				j++
			}
			if j < len(line) && line[j] == '=' {
				if at < 0 || i < at {
					at = i
				}
				break
			}
			off = i + len(m)
		}
	}
	return at
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring the
// case of s, without allocating.
func indexFold(s, lowerNeedle string) int {
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerNeedle[j] {
				break
			}
		}
		if j == n {
			return i
		}
	}
	return -1
}

// logLimiter lets through at most burst lines per message per interval.
type logLimiter struct {
	burst    int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	buckets map[string]*logBucket
}

type logBucket struct {
	start   time.Time
	count   int
	dropped int
}

// maxLogBuckets bounds the messages tracked; beyond it, lines share one
// bucket (sipgo's messages are constant strings, a few dozen).
const maxLogBuckets = 1024

// allow reports whether a line with msg may be written now, and how many
// lines with it were dropped since the last one written.
func (l *logLimiter) allow(msg string) (suppressed int, ok bool) {
	if l.burst < 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*logBucket)
	}
	b, found := l.buckets[msg]
	if !found {
		if len(l.buckets) >= maxLogBuckets {
			msg = "\x00other"
			b = l.buckets[msg]
		}
		if b == nil {
			b = &logBucket{start: now}
			l.buckets[msg] = b
		}
	}
	if now.Sub(b.start) >= l.interval {
		b.start, b.count = now, 0
	}
	if b.count >= l.burst {
		b.dropped++
		return 0, false
	}
	b.count++
	suppressed, b.dropped = b.dropped, 0
	return suppressed, true
}
