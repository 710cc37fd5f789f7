package console

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseTags: the text the form shows for parsed tags reads back as the
// same tags (what a user saves unchanged stays unchanged), and no tag name
// or value keeps the spaces or line breaks the parser trims, and every
// non-blank line is one tag.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"", "team=voice", " a = b \n\n c=d=e\r\nflag", "=v", "k=", "x\ny=z\r", "é=ü\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tags := parseTags(text)
		again := parseTags(formatTags(tags))
		if !slices.Equal(tags, again) {
			t.Fatalf("parseTags(%q) = %q; formatted and parsed again: %q", text, tags, again)
		}
		for _, tag := range tags {
			for _, s := range []string{tag.Name, tag.Value} {
				if s != strings.TrimSpace(s) || strings.ContainsAny(s, "\n") {
					t.Fatalf("parseTags(%q): %q keeps spaces or a line break", text, s)
				}
			}
		}
		lines := 0
		for l := range strings.Lines(text) {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(tags) != lines {
			// A line the form sends is a tag (a bad one is the API's to
			// refuse, by name); a blank line is none.
			t.Fatalf("parseTags(%q) = %d tags from %d non-blank lines", text, len(tags), lines)
		}
	})
}

func TestParseTags(t *testing.T) {
	got := parseTags(" team = voice \n\nflag\r\ncost=a=b\n")
	want := []string{"team=voice", "flag=", "cost=a=b"}
	var have []string
	for _, tag := range got {
		have = append(have, tag.Name+"="+tag.Value)
	}
	if !slices.Equal(have, want) {
		t.Fatalf("parseTags = %q, want %q", have, want)
	}
}
