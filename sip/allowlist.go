package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrAllowlistEntry is wrapped by every error about a malformed allowlist
// entry; match it with errors.Is.
var ErrAllowlistEntry = errors.New("sip: bad allowlist entry")

// ErrDenyAll is returned by MarshalText for the list of DenyAll (and of a
// failed parse): it has no text form, and writing it as "" would turn it
// into the empty list, which allows every address.
var ErrDenyAll = errors.New("sip: a deny-all allowlist has no text form")

// EntryKind says how an allowlist entry was written.
type EntryKind uint8

// The entry kinds. Each keeps its written form through String, so a list
// shown back to an operator looks the way it was typed (CIDR host bits are
// the one exception: they are cleared).
const (
	// EntrySingle is one address: 203.0.113.7 or 2001:db8::7.
	EntrySingle EntryKind = iota + 1
	// EntryWildcard is an IPv4 address with trailing '*' octets: 203.0.113.* or 10.1.*.*.
	EntryWildcard
	// EntryPrefix is a CIDR prefix: 203.0.113.0/24 or 2001:db8::/32.
	EntryPrefix
	// EntryRange is an inclusive range of one family: 203.0.113.10-203.0.113.20.
	EntryRange
)

// String returns the kind's name.
func (k EntryKind) String() string {
	switch k {
	case EntrySingle:
		return "single"
	case EntryWildcard:
		return "wildcard"
	case EntryPrefix:
		return "prefix"
	case EntryRange:
		return "range"
	}
	return "invalid"
}

// Entry is one allowlist entry: a contiguous, inclusive range of addresses of
// one family, and the form it was written in. It is a small comparable value
// in the manner of netip.Prefix; the zero Entry is invalid and contains
// nothing.
type Entry struct {
	from, to netip.Addr
	kind     EntryKind
	bits     uint8 // prefix length (EntryPrefix) or fixed octets×8 (EntryWildcard)
}

// ParseEntry parses one allowlist entry: a single IPv4 or IPv6 address, an
// IPv4 wildcard (trailing '*' octets only), a CIDR prefix, or a range
// "FROM-TO" of one family with FROM ≤ TO. Surrounding spaces are ignored.
// Zoned addresses (fe80::1%eth0) and IPv4-mapped IPv6 forms (::ffff:1.2.3.4)
// are refused: write the plain IPv4 form instead. Errors wrap
// ErrAllowlistEntry and quote the input.
func ParseEntry(s string) (Entry, error) {
	e, reason := parseEntry(strings.TrimSpace(s))
	if reason != "" {
		return Entry{}, &entryError{text: s, reason: reason}
	}
	return e, nil
}

// entryError is the error of ParseEntry; it matches ErrAllowlistEntry.
type entryError struct{ text, reason string }

func (e *entryError) Error() string {
	return fmt.Sprintf("%v %q: %s", ErrAllowlistEntry, e.text, e.reason)
}

func (e *entryError) Is(target error) bool { return target == ErrAllowlistEntry }

func parseEntry(s string) (Entry, string) {
	if s == "" {
		return Entry{}, "empty entry"
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, reason := parseEntryAddr(strings.TrimSpace(from))
		if reason != "" {
			return Entry{}, "range start: " + reason
		}
		b, reason := parseEntryAddr(strings.TrimSpace(to))
		if reason != "" {
			return Entry{}, "range end: " + reason
		}
		if a.Is4() != b.Is4() {
			return Entry{}, "range mixes IPv4 and IPv6"
		}
		if b.Less(a) {
			return Entry{}, "range start is after its end"
		}
		return Entry{from: a, to: b, kind: EntryRange}, ""
	}
	if strings.Contains(s, "*") {
		return parseWildcard(s)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Entry{}, "not a CIDR prefix"
		}
		if p.Addr().Is4In6() {
			return Entry{}, "IPv4-mapped IPv6 prefix; write the IPv4 prefix"
		}
		p = p.Masked()
		return Entry{from: p.Addr(), to: lastAddr(p), kind: EntryPrefix, bits: uint8(p.Bits())}, ""
	}
	a, reason := parseEntryAddr(s)
	if reason != "" {
		return Entry{}, reason
	}
	return Entry{from: a, to: a, kind: EntrySingle}, ""
}

func parseEntryAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, "not an IP address"
	case a.Zone() != "":
		return netip.Addr{}, "zoned IPv6 address"
	case a.Is4In6():
		return netip.Addr{}, "IPv4-mapped IPv6 address; write the IPv4 address"
	}
	return a, ""
}

// parseWildcard parses 203.0.113.* and 10.1.*.*: four dot-separated octets,
// where the '*' octets come last.
func parseWildcard(s string) (Entry, string) {
	var oct [4]byte
	fixed := 0
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return Entry{}, "wildcard needs four octets (203.0.113.*)"
	}
	for i, p := range parts {
		if p == "*" {
			continue
		}
		if i > 0 && parts[i-1] == "*" {
			return Entry{}, "wildcard octets must come last (10.1.*.*)"
		}
		if len(p) == 0 || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
			return Entry{}, "bad octet " + strconv.Quote(p)
		}
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return Entry{}, "bad octet " + strconv.Quote(p)
		}
		oct[i] = byte(n)
		fixed++
	}
	p := netip.PrefixFrom(netip.AddrFrom4(oct), fixed*8)
	return Entry{from: p.Addr(), to: lastAddr(p), kind: EntryWildcard, bits: uint8(fixed * 8)}, ""
}

// lastAddr returns the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	if p.Addr().Is4() {
		v := binary.BigEndian.Uint32(p.Addr().AsSlice())
		v |= hostMask32(p.Bits())
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	b := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	bits := p.Bits()
	switch {
	case bits <= 64:
		hi |= hostMask64(bits)
		lo = ^uint64(0)
	default:
		lo |= hostMask64(bits - 64)
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

func hostMask32(bits int) uint32 {
	if bits >= 32 {
		return 0
	}
	return ^uint32(0) >> bits
}

func hostMask64(bits int) uint64 {
	if bits >= 64 {
		return 0
	}
	return ^uint64(0) >> bits
}

// IsValid reports whether e is a parsed entry (not the zero Entry).
func (e Entry) IsValid() bool { return e.kind != 0 }

// Kind returns how the entry was written.
func (e Entry) Kind() EntryKind { return e.kind }

// From returns the lowest address of the entry.
func (e Entry) From() netip.Addr { return e.from }

// To returns the highest address of the entry.
func (e Entry) To() netip.Addr { return e.to }

// Contains reports whether addr lies in the entry. IPv4-mapped IPv6
// addresses are compared as IPv4; zones are ignored.
func (e Entry) Contains(addr netip.Addr) bool {
	if !e.IsValid() || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	return addr.Is4() == e.from.Is4() && !addr.Less(e.from) && !e.to.Less(addr)
}

// String returns the entry in the form it was written (CIDR prefixes with
// their host bits cleared). ParseEntry(e.String()) == e.
func (e Entry) String() string {
	switch e.kind {
	case EntrySingle:
		return e.from.String()
	case EntryPrefix:
		return netip.PrefixFrom(e.from, int(e.bits)).String()
	case EntryRange:
		return e.from.String() + "-" + e.to.String()
	case EntryWildcard:
		b := e.from.As4()
		var sb strings.Builder
		for i := range 4 {
			if i > 0 {
				sb.WriteByte('.')
			}
			if i*8 < int(e.bits) {
				sb.WriteString(strconv.Itoa(int(b[i])))
			} else {
				sb.WriteByte('*')
			}
		}
		return sb.String()
	}
	return "invalid Entry"
}

// MarshalText implements encoding.TextMarshaler.
func (e Entry) MarshalText() ([]byte, error) {
	if !e.IsValid() {
		return []byte{}, nil
	}
	return []byte(e.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Empty text gives the
// zero Entry.
func (e *Entry) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*e = Entry{}
		return nil
	}
	v, err := ParseEntry(string(text))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// EntryError is one bad entry of a list.
type EntryError struct {
	// Position is the 1-based position of the entry in the list.
	Position int
	// Text is the entry as given.
	Text string
	// Reason says why it was refused, for example "not an IP address".
	Reason string
}

// Error returns "entry N \"text\": reason".
func (e EntryError) Error() string {
	return fmt.Sprintf("entry %d %q: %s", e.Position, e.Text, e.Reason)
}

// Is makes errors.Is(e, ErrAllowlistEntry) hold.
func (e EntryError) Is(target error) bool { return target == ErrAllowlistEntry }

// AllowlistError reports every bad entry of a list, in order. It matches
// ErrAllowlistEntry with errors.Is.
type AllowlistError struct {
	Entries []EntryError
}

// maxErrorsShown bounds how many entries Error() spells out; Entries keeps all.
const maxErrorsShown = 20

// Error lists the bad entries (the first 20, then how many more).
func (e *AllowlistError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sip: allowlist has %d bad entr", len(e.Entries))
	if len(e.Entries) == 1 {
		b.WriteString("y: ")
	} else {
		b.WriteString("ies: ")
	}
	for i, ee := range e.Entries {
		if i == maxErrorsShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Entries)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(ee.Error())
	}
	return b.String()
}

// Unwrap returns one error per bad entry, so errors.Is(err, ErrAllowlistEntry) holds.
func (e *AllowlistError) Unwrap() []error {
	out := make([]error, len(e.Entries))
	for i := range e.Entries {
		out[i] = e.Entries[i]
	}
	return out
}

// v4Range and v6Range are the merged, sorted lookup tables.
type v4Range struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

type v6Range struct{ lo, hi u128 }

func to128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func to32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// Allowlist is an immutable list of address entries (seed 002, "IP
// Whitelist"). The empty list, and the zero Allowlist, allow every address;
// a non-empty list allows exactly the addresses of its entries. The list of
// DenyAll allows no address at all: it is what every parsing function
// returns with its error, so a caller that ignores the error refuses
// everybody instead of allowing everybody.
//
// Lookups binary-search merged, sorted ranges (one table per family), so
// they take O(log n) time and do not allocate. An Allowlist is safe for
// concurrent use.
type Allowlist struct {
	entries []Entry
	v4      []v4Range
	v6      []v6Range
	deny    bool // DenyAll: refuses every address
}

// DenyAll returns a list that allows no address (IsEmpty reports false for
// it, DeniesAll true). It is the list returned, with the error, by
// NewAllowlist, ParseAllowlist and ParseAllowlistEntries when the input is
// malformed; use it directly where a tenant must refuse every request, for
// example while its configured list is broken.
func DenyAll() Allowlist { return Allowlist{deny: true} }

// NewAllowlist builds an allowlist from parsed entries. Invalid (zero)
// entries are refused with an *AllowlistError, and the list returned with it
// is DenyAll.
func NewAllowlist(entries ...Entry) (Allowlist, error) {
	var bad []EntryError
	for i, e := range entries {
		if !e.IsValid() {
			bad = append(bad, EntryError{Position: i + 1, Reason: "zero Entry"})
		}
	}
	if bad != nil {
		return DenyAll(), &AllowlistError{Entries: bad}
	}
	return build(slices.Clone(entries)), nil
}

// ParseAllowlist parses a list given as text: entries separated by commas or
// newlines, spaces around them ignored (the form of an operator's text box or
// a command-line flag). Blank or whitespace-only text is the empty list.
// Blank fields between separators ("a,,b", a trailing comma, an empty line)
// are skipped and not counted, but a text made of separators only is an
// error, never the empty list that would allow everyone. Every malformed
// entry is reported in one *AllowlistError, by position (counting the
// non-blank entries from 1) and text; the list returned with the error is
// DenyAll.
func ParseAllowlist(text string) (Allowlist, error) {
	if strings.TrimSpace(text) == "" {
		return Allowlist{}, nil
	}
	var fields []string
	for _, f := range splitList(text) {
		if strings.TrimSpace(f) != "" {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		// separators and nothing else: refuse rather than allow everyone
		return DenyAll(), &AllowlistError{Entries: []EntryError{{Position: 1, Text: text, Reason: "no entry between the separators"}}}
	}
	return ParseAllowlistEntries(fields)
}

func splitList(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); i++ {
		if text[i] == ',' || text[i] == '\n' {
			out = append(out, text[start:i])
			start = i + 1
		}
	}
	return append(out, text[start:])
}

// ParseAllowlistEntries parses one entry per element (the form of a list
// stored in JSON or entered row by row). Every malformed entry, blank ones
// included, is reported in one *AllowlistError, and the list returned with
// it is DenyAll. An empty slice is the empty list, which allows every
// address.
func ParseAllowlistEntries(entries []string) (Allowlist, error) {
	parsed := make([]Entry, 0, len(entries))
	var bad []EntryError
	for i, s := range entries {
		e, reason := parseEntry(strings.TrimSpace(s))
		if reason != "" {
			bad = append(bad, EntryError{Position: i + 1, Text: s, Reason: reason})
			continue
		}
		parsed = append(parsed, e)
	}
	if bad != nil {
		return DenyAll(), &AllowlistError{Entries: bad}
	}
	return build(parsed), nil
}

func build(entries []Entry) Allowlist {
	a := Allowlist{entries: entries}
	var v4 []v4Range
	var v6 []v6Range
	for _, e := range entries {
		if e.from.Is4() {
			v4 = append(v4, v4Range{to32(e.from), to32(e.to)})
		} else {
			v6 = append(v6, v6Range{to128(e.from), to128(e.to)})
		}
	}
	slices.SortFunc(v4, func(x, y v4Range) int {
		switch {
		case x.lo < y.lo:
			return -1
		case x.lo > y.lo:
			return 1
		}
		return 0
	})
	for _, r := range v4 {
		n := len(a.v4)
		// merge overlapping and adjacent ranges
		if n > 0 && (r.lo <= a.v4[n-1].hi || (a.v4[n-1].hi != ^uint32(0) && r.lo == a.v4[n-1].hi+1)) {
			a.v4[n-1].hi = max(a.v4[n-1].hi, r.hi)
			continue
		}
		a.v4 = append(a.v4, r)
	}
	slices.SortFunc(v6, func(x, y v6Range) int {
		switch {
		case x.lo.less(y.lo):
			return -1
		case y.lo.less(x.lo):
			return 1
		}
		return 0
	})
	for _, r := range v6 {
		n := len(a.v6)
		if n > 0 {
			// sorted by lo: merge when r starts inside or right after the last range
			last := &a.v6[n-1]
			next, ok := last.hi.next()
			if !last.hi.less(r.lo) || (ok && next == r.lo) {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		a.v6 = append(a.v6, r)
	}
	return a
}

// Len returns the number of entries.
func (a Allowlist) Len() int { return len(a.entries) }

// IsEmpty reports whether the list has no entries and so allows every
// address. It is false for DenyAll, which has no entries either.
func (a Allowlist) IsEmpty() bool { return len(a.entries) == 0 && !a.deny }

// DeniesAll reports whether a is the list of DenyAll (or of a failed
// parse), which allows no address.
func (a Allowlist) DeniesAll() bool { return a.deny }

// Entries returns a copy of the entries in the order they were given.
func (a Allowlist) Entries() []Entry { return slices.Clone(a.entries) }

// Allows reports whether a request from addr may pass: false for DenyAll,
// true when the list is empty, otherwise whether an entry contains addr. An
// invalid addr is allowed only by the empty list. It does not allocate.
func (a Allowlist) Allows(addr netip.Addr) bool {
	if a.deny {
		return false
	}
	return len(a.entries) == 0 || a.Contains(addr)
}

// Contains reports whether an entry contains addr (false for the empty
// list). IPv4-mapped IPv6 addresses are looked up as IPv4, zones ignored. It
// does not allocate.
func (a Allowlist) Contains(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		x := to32(addr)
		// find the first range whose lo > x; the one before it may hold x
		lo, hi := 0, len(a.v4)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if a.v4[m].lo <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo > 0 && x <= a.v4[lo-1].hi
	}
	x := to128(addr)
	lo, hi := 0, len(a.v6)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(a.v6[m].lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !a.v6[lo-1].hi.less(x)
}

// String returns the entries joined by commas, each in its written form;
// ParseAllowlist(a.String()) gives back the same entries. The empty list is
// "", and so is DenyAll, which has no text form (see MarshalText).
func (a Allowlist) String() string {
	var b strings.Builder
	for i, e := range a.entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// Strings returns the entries in their written form, one per element (the
// inverse of ParseAllowlistEntries).
func (a Allowlist) Strings() []string {
	out := make([]string, len(a.entries))
	for i, e := range a.entries {
		out[i] = e.String()
	}
	return out
}

// Equal reports whether a and b have the same entries in the same order
// (and are both DenyAll or both not).
func (a Allowlist) Equal(b Allowlist) bool {
	return a.deny == b.deny && slices.Equal(a.entries, b.entries)
}

// MarshalText implements encoding.TextMarshaler with the String form. It
// refuses DenyAll with ErrDenyAll: its String "" would read back as the
// empty list, which allows every address.
func (a Allowlist) MarshalText() ([]byte, error) {
	if a.deny {
		return nil, ErrDenyAll
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAllowlist.
// On error *a becomes DenyAll, so a list that failed to load refuses every
// address.
func (a *Allowlist) UnmarshalText(text []byte) error {
	v, err := ParseAllowlist(string(text))
	*a = v
	return err
}
