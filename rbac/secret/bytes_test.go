package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestBytesPrintedFormsAreRedacted(t *testing.T) {
	key := Bytes("\x01\x02key-material-0123456789\xfe")
	leaks := []string{string(key), fmt.Sprintf("%x", []byte(key)), base64.StdEncoding.EncodeToString(key), "1 2 107"}
	var logJSON, logText bytes.Buffer
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("k", "key", key, slog.Any("cfg", struct{ Key Bytes }{key}))
	slog.New(slog.NewTextHandler(&logText, nil)).Info("k", "key", key, slog.Any("cfg", struct{ Key Bytes }{key}))
	js, err := json.Marshal(struct{ Key Bytes }{key})
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"%s": fmt.Sprintf("%s", key), "%v": fmt.Sprintf("%v", key), "%+v": fmt.Sprintf("%+v", key),
		"%#v": fmt.Sprintf("%#v", key), "%q": fmt.Sprintf("%q", key), "%x": fmt.Sprintf("%x", key),
		"%d": fmt.Sprintf("%d", key), "struct": fmt.Sprintf("%+v", struct{ K []Bytes }{[]Bytes{key}}),
		"slog JSON": logJSON.String(), "slog text": logText.String(), "JSON": string(js),
	}
	for name, got := range forms {
		for _, l := range leaks {
			if strings.Contains(got, l) {
				t.Errorf("%s leaks the key (%q): %q", name, l, got)
			}
		}
		if !strings.Contains(got, Redacted) {
			t.Errorf("%s = %q, want it to contain %q", name, got, Redacted)
		}
	}
	if !bytes.Equal(key.Reveal(), []byte(key)) || key.IsZero() || !Bytes(nil).IsZero() {
		t.Error("Reveal/IsZero")
	}
	if !key.Equal(Bytes(bytes.Clone(key))) || key.Equal(key[1:]) {
		t.Error("Equal")
	}
	if got := fmt.Sprint(Bytes(nil)); got != "" {
		t.Errorf("empty secret prints %q", got)
	}
}
