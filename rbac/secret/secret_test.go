package secret

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "s3cr3t-p4ssw0rd-value"

func TestPrintedFormsAreRedacted(t *testing.T) {
	s := String(plain)
	forms := map[string]string{
		"%s":  fmt.Sprintf("%s", s),
		"%v":  fmt.Sprintf("%v", s),
		"%+v": fmt.Sprintf("%+v", s),
		"%#v": fmt.Sprintf("%#v", s),
		"%q":  fmt.Sprintf("%q", s),
		"%x":  fmt.Sprintf("%x", s),
		"%X":  fmt.Sprintf("%X", s),
		"%d":  fmt.Sprintf("%d", s),
		"struct": fmt.Sprintf("%+v", struct {
			User string
			Pass String
		}{"alice", s}),
		"error": fmt.Errorf("dial with %v: %w", s, errors.New("refused")).Error(),
	}
	for name, got := range forms {
		if strings.Contains(got, plain) || strings.Contains(got, fmt.Sprintf("%x", plain)) {
			t.Errorf("%s leaks the secret: %q", name, got)
		}
		if !strings.Contains(got, Redacted) {
			t.Errorf("%s = %q, want it to contain %q", name, got, Redacted)
		}
	}
}

func TestSlogRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("login", "password", String(plain), slog.Any("cfg", struct{ Key String }{String(plain)}))
	if strings.Contains(buf.String(), plain) {
		t.Fatalf("log line leaks the secret: %s", buf.String())
	}
	if !strings.Contains(buf.String(), Redacted) {
		t.Fatalf("log line has no redaction marker: %s", buf.String())
	}
}

func TestJSONShowsMaskAndReadsPlain(t *testing.T) {
	type cfg struct {
		Key String `json:"key"`
	}
	out, err := json.Marshal(cfg{Key: String(plain)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"key":"s3crXXXXXXXXXXXXXXXXX"}`; string(out) != want {
		t.Fatalf("marshal = %s, want %s", out, want)
	}
	var back cfg
	if err := json.Unmarshal([]byte(`{"key":"`+plain+`"}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Key.Reveal() != plain {
		t.Fatalf("unmarshal = %q, want the plain value", back.Key.Reveal())
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "XXX"},
		{"abcdefgh", "XXXXXXXX"},
		{"abcdefghi", "abcdXXXXX"},
		{"AKIAIOSFODNN7EXAMPLE", "AKIAXXXXXXXXXXXXXXXX"},
		{"ключ-секрет-длинный", "ключXXXXXXXXXXXXXXX"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKeep(t *testing.T) {
	stored := String(plain)
	for _, tc := range []struct {
		name      string
		stored    String
		submitted String
		want      String
	}{
		{"masked value keeps the stored secret", stored, String(stored.Mask()), stored},
		{"empty keeps the stored secret", stored, "", stored},
		{"new value replaces", stored, "another-secret-1", "another-secret-1"},
		{"first value is taken", "", "first-secret-123", "first-secret-123"},
		{"mask of another secret replaces", stored, String(Mask("zzzz-other-secret")), String(Mask("zzzz-other-secret"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.stored.Keep(tc.submitted); got.Reveal() != tc.want.Reveal() {
				t.Fatalf("Keep = %q, want %q", got.Reveal(), tc.want.Reveal())
			}
		})
	}
}

func TestEqual(t *testing.T) {
	if !String("abc").Equal("abc") || String("abc").Equal("abd") || String("abc").Equal("ab") {
		t.Fatal("Equal compares wrongly")
	}
}

func TestEmptyPrintsEmpty(t *testing.T) {
	if got := fmt.Sprint(String("")); got != "" {
		t.Fatalf("empty secret prints %q", got)
	}
}

// TestMarshalledFormsRevealAtMostTheMaskPrefix checks every marshalled form
// (JSON, text, XML, a pointer inside a struct, a map value) of secrets of
// several lengths: a secret of eight characters or fewer shows nothing of
// itself, a longer one only its first four characters.
func TestMarshalledFormsRevealAtMostTheMaskPrefix(t *testing.T) {
	for _, plain := range []string{"a", "pass1234", "pass12345", "AKIAIOSFODNN7EXAMPLE", "ключ-секрет-длинный"} {
		s := String(plain)
		text, _ := s.MarshalText()
		js, err := json.Marshal(map[string]any{"v": s, "p": &s, "m": map[string]String{"k": s}})
		if err != nil {
			t.Fatal(err)
		}
		type doc struct{ V String }
		x, err := xml.Marshal(doc{s})
		if err != nil {
			t.Fatal(err)
		}
		shown := []rune(plain)
		if len(shown) <= 8 {
			shown = nil
		} else {
			shown = shown[:4]
		}
		hidden := string([]rune(plain)[len(shown):])
		for name, got := range map[string]string{"text": string(text), "JSON": string(js), "XML": string(x)} {
			if strings.Contains(got, plain) || strings.Contains(got, hidden) {
				t.Errorf("%s of %q leaks it: %s", name, plain, got)
			}
			if !strings.Contains(got, string(shown)+strings.Repeat("X", len([]rune(hidden)))) {
				t.Errorf("%s of %q = %s, want the mask %q", name, plain, got, string(shown)+strings.Repeat("X", len([]rune(hidden))))
			}
		}
	}
}

// TestPointersAndNestingAreRedacted: fmt reaches the methods through
// pointers, slices, maps and exported struct fields.
func TestPointersAndNestingAreRedacted(t *testing.T) {
	s := String(plain)
	type inner struct{ Pass *String }
	v := struct {
		In   inner
		List []String
		Map  map[string]String
	}{inner{&s}, []String{s}, map[string]String{"k": s}}
	for _, got := range []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", &v), fmt.Sprintf("%#v", v), fmt.Sprint(&s)} {
		if strings.Contains(got, plain) {
			t.Errorf("leak: %s", got)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v, "p", &s)
	if strings.Contains(buf.String(), plain) || !strings.Contains(buf.String(), Redacted) {
		t.Errorf("slog text: %s", buf.String())
	}
}
