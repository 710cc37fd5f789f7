package sip

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		in       string
		kind     EntryKind
		from, to string
		str      string
	}{
		{"203.0.113.7", EntrySingle, "203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{" 203.0.113.7 ", EntrySingle, "203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{"203.0.113.*", EntryWildcard, "203.0.113.0", "203.0.113.255", "203.0.113.*"},
		{"10.1.*.*", EntryWildcard, "10.1.0.0", "10.1.255.255", "10.1.*.*"},
		{"10.*.*.*", EntryWildcard, "10.0.0.0", "10.255.255.255", "10.*.*.*"},
		{"*.*.*.*", EntryWildcard, "0.0.0.0", "255.255.255.255", "*.*.*.*"},
		{"203.0.113.0/24", EntryPrefix, "203.0.113.0", "203.0.113.255", "203.0.113.0/24"},
		{"203.0.113.77/24", EntryPrefix, "203.0.113.0", "203.0.113.255", "203.0.113.0/24"},
		{"0.0.0.0/0", EntryPrefix, "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"198.51.100.9/32", EntryPrefix, "198.51.100.9", "198.51.100.9", "198.51.100.9/32"},
		{"203.0.113.10-203.0.113.20", EntryRange, "203.0.113.10", "203.0.113.20", "203.0.113.10-203.0.113.20"},
		{"203.0.113.10 - 203.0.113.20", EntryRange, "203.0.113.10", "203.0.113.20", "203.0.113.10-203.0.113.20"},
		{"203.0.113.10-203.0.113.10", EntryRange, "203.0.113.10", "203.0.113.10", "203.0.113.10-203.0.113.10"},
		{"2001:db8::7", EntrySingle, "2001:db8::7", "2001:db8::7", "2001:db8::7"},
		{"2001:DB8::7", EntrySingle, "2001:db8::7", "2001:db8::7", "2001:db8::7"},
		{"2001:db8::/32", EntryPrefix, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
		{"2001:db8:1:2::/64", EntryPrefix, "2001:db8:1:2::", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8::/100", EntryPrefix, "2001:db8::", "2001:db8::fff:ffff", "2001:db8::/100"},
		{"::/0", EntryPrefix, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"2001:db8::1-2001:db8::ff", EntryRange, "2001:db8::1", "2001:db8::ff", "2001:db8::1-2001:db8::ff"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseEntry(tt.in)
			if err != nil {
				t.Fatalf("ParseEntry(%q): %v", tt.in, err)
			}
			if e.Kind() != tt.kind || e.From().String() != tt.from || e.To().String() != tt.to || e.String() != tt.str {
				t.Fatalf("ParseEntry(%q) = %v %v..%v %q, want %v %v..%v %q", tt.in, e.Kind(), e.From(), e.To(), e.String(), tt.kind, tt.from, tt.to, tt.str)
			}
			again, err := ParseEntry(e.String())
			if err != nil || again != e {
				t.Fatalf("round trip of %q: %v, %v", e.String(), again, err)
			}
			if !e.Contains(e.From()) || !e.Contains(e.To()) {
				t.Fatalf("%v does not contain its own bounds", e)
			}
		})
	}
}

func TestParseEntryErrors(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", "empty entry"},
		{"   ", "empty entry"},
		{"203.0.113.256", "not an IP address"},
		{"203.0.113", "not an IP address"},
		{"example.com", "not an IP address"},
		{"203.0.113.*.*", "wildcard needs four octets"},
		{"203.*.113.*", "wildcard octets must come last"},
		{"*.0.113.7", "wildcard octets must come last"},
		{"203.0.113.2*", "bad octet"},
		{"203.0.113.0*", "bad octet"},
		{"203.0.0113.*", "bad octet"},
		{"203.0.256.*", "bad octet"},
		{"2001:db8::*", "wildcard needs four octets"},
		{"203.0.113.0/33", "not a CIDR prefix"},
		{"203.0.113.0/", "not a CIDR prefix"},
		{"2001:db8::/129", "not a CIDR prefix"},
		{"::ffff:203.0.113.0/120", "IPv4-mapped"},
		{"::ffff:203.0.113.7", "IPv4-mapped"},
		{"fe80::1%eth0", "zoned"},
		{"203.0.113.20-203.0.113.10", "start is after its end"},
		{"203.0.113.10-2001:db8::1", "mixes IPv4 and IPv6"},
		{"203.0.113.10-", "range end"},
		{"-203.0.113.10", "range start"},
		{"203.0.113.10-203.0.113.20-203.0.113.30", "range end"},
		{"203.0.113.0/24-203.0.113.255", "range start"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseEntry(tt.in)
			if err == nil {
				t.Fatalf("ParseEntry(%q) = %v, want error", tt.in, e)
			}
			if !errors.Is(err, ErrAllowlistEntry) {
				t.Fatalf("error %v does not match ErrAllowlistEntry", err)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
				t.Fatalf("error %q should name the input %q and say %q", err, tt.in, tt.reason)
			}
			if e.IsValid() || e.Contains(netip.MustParseAddr("203.0.113.10")) {
				t.Fatalf("a failed parse returned a usable entry %v", e)
			}
		})
	}
}

func TestParseAllowlistReportsEveryBadEntry(t *testing.T) {
	_, err := ParseAllowlist("203.0.113.7, 10.0.0.300,\n198.51.100.*, 10.*.1.*,, 2001:db8::/32")
	var ae *AllowlistError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *AllowlistError", err)
	}
	if !errors.Is(err, ErrAllowlistEntry) {
		t.Fatalf("errors.Is(err, ErrAllowlistEntry) = false")
	}
	want := []struct {
		pos  int
		text string
	}{{2, " 10.0.0.300"}, {4, " 10.*.1.*"}}
	if len(ae.Entries) != len(want) {
		t.Fatalf("got %d bad entries (%v), want %d", len(ae.Entries), ae, len(want))
	}
	for i, w := range want {
		if ae.Entries[i].Position != w.pos || ae.Entries[i].Text != w.text || ae.Entries[i].Reason == "" {
			t.Errorf("bad entry %d = %+v, want position %d text %q", i, ae.Entries[i], w.pos, w.text)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("entry %d %q", w.pos, w.text)) {
			t.Errorf("message %q does not name entry %d %q", err, w.pos, w.text)
		}
	}
}

func TestBlankEntriesNeverAllowEveryone(t *testing.T) {
	// A list made of blanks must not become the empty list (which would
	// allow everyone).
	for name, parse := range map[string]func() (Allowlist, error){
		"entries":    func() (Allowlist, error) { return ParseAllowlistEntries([]string{" "}) },
		"entries2":   func() (Allowlist, error) { return ParseAllowlistEntries([]string{"10.0.0.1", ""}) },
		"separators": func() (Allowlist, error) { return ParseAllowlist(" , ,\n") },
	} {
		t.Run(name, func(t *testing.T) {
			a, err := parse()
			var ae *AllowlistError
			if !errors.As(err, &ae) || len(ae.Entries) != 1 {
				t.Fatalf("blank entry accepted: %v (err %v)", a, err)
			}
		})
	}
	a, err := ParseAllowlist("10.0.0.1,\n,10.0.0.2,")
	if err != nil || a.Len() != 2 {
		t.Fatalf("blank fields between entries: %v %v", a, err)
	}
}

func TestAllowlistErrorTruncatesMessage(t *testing.T) {
	bad := make([]string, 30)
	for i := range bad {
		bad[i] = fmt.Sprintf("bad%d", i)
	}
	_, err := ParseAllowlistEntries(bad)
	var ae *AllowlistError
	if !errors.As(err, &ae) || len(ae.Entries) != 30 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "and 10 more") {
		t.Fatalf("message not truncated: %q", err)
	}
}

func TestAllowlistAllows(t *testing.T) {
	list, err := ParseAllowlist("203.0.113.7, 198.51.100.*, 10.1.*.*, 192.0.2.0/25, 100.64.0.10-100.64.0.20, 2001:db8::7, 2001:db8:1::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"203.0.113.7", true},
		{"203.0.113.6", false},
		{"203.0.113.8", false},
		{"198.51.100.0", true},
		{"198.51.100.255", true},
		{"198.51.101.0", false},
		{"10.1.200.3", true},
		{"10.2.0.0", false},
		{"192.0.2.127", true},
		{"192.0.2.128", false},
		{"100.64.0.9", false},
		{"100.64.0.10", true},
		{"100.64.0.20", true},
		{"100.64.0.21", false},
		{"::ffff:203.0.113.7", true},
		{"::ffff:203.0.113.9", false},
		{"2001:db8::7", true},
		{"2001:db8::8", false},
		{"2001:db8:1:ffff::1", true},
		{"2001:db8:2::1", false},
		{"fe80::1%eth0", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			if got := list.Allows(addr); got != tt.want {
				t.Fatalf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
			}
			if got := list.Contains(addr); got != tt.want {
				t.Fatalf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if list.Allows(netip.Addr{}) {
		t.Error("a non-empty list allowed the invalid address")
	}
}

func TestEmptyAllowlistAllowsEveryAddress(t *testing.T) {
	for _, in := range []string{"", "  \n "} {
		a, err := ParseAllowlist(in)
		if err != nil {
			t.Fatal(err)
		}
		var zero Allowlist
		for _, l := range []Allowlist{a, zero} {
			if !l.IsEmpty() || !l.Allows(netip.MustParseAddr("203.0.113.7")) || !l.Allows(netip.MustParseAddr("2001:db8::1")) {
				t.Fatalf("empty list %q refuses addresses", in)
			}
			if l.Contains(netip.MustParseAddr("203.0.113.7")) {
				t.Fatal("empty list Contains an address")
			}
		}
	}
}

func TestAllowlistMergesOverlaps(t *testing.T) {
	a, err := ParseAllowlist("10.0.0.0/24, 10.0.0.128-10.0.1.5, 10.0.1.6, 10.0.3.0/24, 255.255.255.255, 255.255.255.0/24, ::/1, 8000::-8000::5, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.v4) != 3 {
		t.Fatalf("v4 ranges = %+v, want 3 merged ranges", a.v4)
	}
	if len(a.v6) != 2 {
		t.Fatalf("v6 ranges = %+v, want 2 merged ranges", a.v6)
	}
	for addr, want := range map[string]bool{
		"10.0.1.6": true, "10.0.1.7": false, "10.0.2.255": false, "10.0.3.9": true,
		"255.255.255.255": true, "7fff::1": true, "8000::5": true, "8000::6": false,
	} {
		if got := a.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", addr, got, want)
		}
	}
	if a.Len() != 9 || a.Strings()[1] != "10.0.0.128-10.0.1.5" {
		t.Fatalf("entries not kept as written: %v", a.Strings())
	}
}

// TestAllowlistMatchesLinearScan checks the binary search against the
// obvious linear scan over random lists.
func TestAllowlistMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var entries []Entry
		for range r.IntN(20) + 1 {
			entries = append(entries, randomEntry(r))
		}
		a, err := NewAllowlist(entries...)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			addr := randomAddr(r)
			want := false
			for _, e := range entries {
				want = want || e.Contains(addr)
			}
			if got := a.Contains(addr); got != want {
				t.Fatalf("round %d: Contains(%v) = %v, linear scan says %v; list %v", round, addr, got, want, a)
			}
		}
	}
}

func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(2) == 0 {
		// a small space so hits are common
		return netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))})
	}
	var b [16]byte
	b[0], b[1], b[14], b[15] = 0x20, 0x01, byte(r.IntN(4)), byte(r.IntN(256))
	return netip.AddrFrom16(b)
}

func randomEntry(r *rand.Rand) Entry {
	a, b := randomAddr(r), randomAddr(r)
	switch r.IntN(3) {
	case 0:
		return Entry{from: a, to: a, kind: EntrySingle}
	case 1:
		bits := a.BitLen() - r.IntN(10)
		p := netip.PrefixFrom(a, bits).Masked()
		return Entry{from: p.Addr(), to: lastAddr(p), kind: EntryPrefix, bits: uint8(bits)}
	default:
		if a.Is4() != b.Is4() {
			b = a
		}
		if b.Less(a) {
			a, b = b, a
		}
		return Entry{from: a, to: b, kind: EntryRange}
	}
}

func TestAllowlistTextAndJSON(t *testing.T) {
	a, err := ParseAllowlist("203.0.113.*,2001:db8::/32, 10.0.0.1-10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	type cfg struct {
		Allow   Allowlist `json:"allow"`
		Partner Entry     `json:"partner"`
	}
	in := cfg{Allow: a, Partner: a.Entries()[0]}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"allow":"203.0.113.*,2001:db8::/32,10.0.0.1-10.0.0.9","partner":"203.0.113.*"}` {
		t.Fatalf("json = %s", b)
	}
	var out cfg
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Allow.Equal(in.Allow) || out.Partner != in.Partner {
		t.Fatalf("json round trip: %v != %v", out, in)
	}
	if err := json.Unmarshal([]byte(`{"allow":"10.0.0.1,nope"}`), &out); !errors.Is(err, ErrAllowlistEntry) {
		t.Fatalf("bad list in JSON: err = %v", err)
	}
}

func TestNewAllowlistRefusesZeroEntry(t *testing.T) {
	if _, err := NewAllowlist(Entry{}); !errors.Is(err, ErrAllowlistEntry) {
		t.Fatalf("err = %v", err)
	}
}

// probeAddrs are addresses of both families, a mapped one and an invalid
// one, which a list that failed to parse must all refuse.
var probeAddrs = []netip.Addr{
	netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"),
	netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("2001:db8::7"),
	netip.MustParseAddr("::ffff:10.0.0.1"), {},
}

// assertDeniesAll fails unless a refuses every probe address and does not
// look like the (allow-all) empty list.
func assertDeniesAll(t *testing.T, what string, a Allowlist) {
	t.Helper()
	if a.IsEmpty() || !a.DeniesAll() {
		t.Fatalf("%s: IsEmpty() = %v, DeniesAll() = %v; want false, true", what, a.IsEmpty(), a.DeniesAll())
	}
	for _, x := range probeAddrs {
		if a.Allows(x) {
			t.Fatalf("%s: allows %v", what, x)
		}
	}
}

// TestFailedParseDeniesAll checks that every way to build a list returns,
// with its error, a list that refuses every address, so a caller ignoring
// the error never allows everybody.
func TestFailedParseDeniesAll(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func() (Allowlist, error)
	}{
		{"ParseAllowlist bad entry", func() (Allowlist, error) { return ParseAllowlist("10.0.0.1,nope") }},
		{"ParseAllowlist separators only", func() (Allowlist, error) { return ParseAllowlist(",\n,") }},
		{"ParseAllowlistEntries bad entry", func() (Allowlist, error) { return ParseAllowlistEntries([]string{"2001:db8::/200"}) }},
		{"ParseAllowlistEntries blank entry", func() (Allowlist, error) { return ParseAllowlistEntries([]string{"10.0.0.1", " "}) }},
		{"NewAllowlist zero entry", func() (Allowlist, error) { return NewAllowlist(Entry{}) }},
		{"UnmarshalText bad entry", func() (Allowlist, error) {
			var a Allowlist
			err := a.UnmarshalText([]byte("10.0.0.300"))
			return a, err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.build()
			if !errors.Is(err, ErrAllowlistEntry) {
				t.Fatalf("err = %v, want ErrAllowlistEntry", err)
			}
			assertDeniesAll(t, c.name, a)
		})
	}
}

func TestDenyAll(t *testing.T) {
	d := DenyAll()
	assertDeniesAll(t, "DenyAll()", d)
	if d.Len() != 0 || d.Equal(Allowlist{}) || !d.Equal(DenyAll()) {
		t.Fatalf("DenyAll: Len %d, equal to the empty list %v", d.Len(), d.Equal(Allowlist{}))
	}
	if b, err := d.MarshalText(); !errors.Is(err, ErrDenyAll) {
		t.Fatalf("MarshalText of DenyAll = %q, %v; want ErrDenyAll (\"\" would read back as allow-all)", b, err)
	}
	if (Allowlist{}).DeniesAll() || !(Allowlist{}).Allows(netip.MustParseAddr("203.0.113.7")) {
		t.Fatalf("the zero Allowlist must still allow every address")
	}
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	a := benchList(1000)
	v4 := netip.MustParseAddr("10.20.30.40")
	v6 := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { a.Allows(v4); a.Allows(v6) }); n != 0 {
		t.Fatalf("Allows allocates %v times per call", n)
	}
}

// FuzzParseAllowlist checks that whatever parses prints back to a list that
// parses to the same entries, that every entry allows its own bounds, and
// that failures name every bad entry with a position inside the list.
func FuzzParseAllowlist(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "203.0.113.*", "10.1.*.*", "203.0.113.0/24", "203.0.113.10-203.0.113.20",
		"2001:db8::7", "2001:db8::/32", "203.0.113.7, 198.51.100.*\n2001:db8::/48", "",
		"10.0.0.300", "1.2.3.4-1.2.3.3", "fe80::1%lo", "::ffff:1.2.3.4", "a,,b", "1.2.3.4/24",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowlist(s)
		if err != nil {
			var ae *AllowlistError
			if !errors.As(err, &ae) || len(ae.Entries) == 0 || !errors.Is(err, ErrAllowlistEntry) {
				t.Fatalf("ParseAllowlist(%q): unexpected error shape %T %v", s, err, err)
			}
			n := max(1, len(splitList(s)))
			for _, e := range ae.Entries {
				if e.Position < 1 || e.Position > n || e.Reason == "" {
					t.Fatalf("bad entry %+v outside list of %d", e, n)
				}
			}
			if a.Len() != 0 {
				t.Fatalf("failed parse returned entries")
			}
			// nothing malformed is ever treated as "allow"
			assertDeniesAll(t, fmt.Sprintf("ParseAllowlist(%q)", s), a)
			return
		}
		b, err := ParseAllowlist(a.String())
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", a.String(), s, err)
		}
		if !b.Equal(a) {
			t.Fatalf("round trip changed %q: %v != %v", s, b, a)
		}
		for _, e := range a.Entries() {
			for _, x := range []netip.Addr{e.From(), e.To()} {
				// mapped addresses are looked up as IPv4, so an IPv6 entry
				// such as ::/80 does not cover its own ::ffff:… bound
				if !x.Is4In6() && !a.Allows(x) {
					t.Fatalf("%v does not allow %v, a bound of its entry %v", a, x, e)
				}
			}
			if again, err := ParseEntry(e.String()); err != nil || again != e {
				t.Fatalf("entry round trip %v: %v %v", e, again, err)
			}
		}
	})
}

func benchList(n int) Allowlist {
	r := rand.New(rand.NewPCG(7, 8))
	entries := make([]Entry, 0, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		a := netip.AddrFrom4(b)
		switch i % 3 {
		case 0:
			entries = append(entries, Entry{from: a, to: a, kind: EntrySingle})
		case 1:
			p := netip.PrefixFrom(a, 28).Masked()
			entries = append(entries, Entry{from: p.Addr(), to: lastAddr(p), kind: EntryPrefix, bits: 28})
		default:
			var c [16]byte
			c[0], c[1] = 0x20, 0x01
			binary.BigEndian.PutUint64(c[8:], r.Uint64())
			v6 := netip.AddrFrom16(c)
			entries = append(entries, Entry{from: v6, to: v6, kind: EntrySingle})
		}
	}
	a, err := NewAllowlist(entries...)
	if err != nil {
		panic(err)
	}
	return a
}

func BenchmarkAllowlistAllows(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		a := benchList(n)
		r := rand.New(rand.NewPCG(9, 10))
		addrs := make([]netip.Addr, 1024)
		for i := range addrs {
			if i%2 == 0 {
				var x [4]byte
				binary.BigEndian.PutUint32(x[:], r.Uint32())
				addrs[i] = netip.AddrFrom4(x)
			} else {
				var c [16]byte
				c[0], c[1] = 0x20, 0x01
				binary.BigEndian.PutUint64(c[8:], r.Uint64())
				addrs[i] = netip.AddrFrom16(c)
			}
		}
		// some hits too
		for i, e := range a.Entries()[:min(n, 100)] {
			addrs[i*10%len(addrs)] = e.From()
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.Allows(addrs[i&1023])
				i++
			}
		})
	}
}

func ExampleParseAllowlist() {
	list, err := ParseAllowlist("203.0.113.7, 198.51.100.*, 192.0.2.0/24, 203.0.113.10-203.0.113.20, 2001:db8::/32")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ip := range []string{"198.51.100.23", "203.0.113.15", "203.0.113.30", "2001:db8::5"} {
		fmt.Println(ip, list.Allows(netip.MustParseAddr(ip)))
	}

	_, err = ParseAllowlist("203.0.113.7, 10.0.0.300, 10.*.1.*")
	fmt.Println(err)
	// Output:
	// 198.51.100.23 true
	// 203.0.113.15 true
	// 203.0.113.30 false
	// 2001:db8::5 true
	// sip: allowlist has 2 bad entries: entry 2 " 10.0.0.300": not an IP address; entry 3 " 10.*.1.*": wildcard octets must come last (10.1.*.*)
}
