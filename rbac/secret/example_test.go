package secret_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/voicegw/voicegw/rbac/secret"
)

// A secret prints redacted whatever the verb, logs redacted, and marshals to
// its masked show-back form; Reveal is the one way to the plain value.
func ExampleString() {
	type smtpConfig struct {
		Username string        `json:"username"`
		Password secret.String `json:"password"`
	}
	cfg := smtpConfig{Username: "mailer", Password: "correct-horse-battery"}

	fmt.Printf("%v | %s | %q | %+v\n", cfg.Password, cfg.Password, cfg.Password, cfg)
	err := fmt.Errorf("smtp login with %v refused", cfg.Password)
	fmt.Println(err)

	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("smtp", "password", cfg.Password)

	js, _ := json.Marshal(cfg)
	fmt.Println(string(js))

	// An operator saves the form without retyping the password: the masked
	// value comes back, and Keep keeps the stored secret.
	kept := cfg.Password.Keep(secret.String(cfg.Password.Mask()))
	fmt.Println(kept.Reveal() == "correct-horse-battery", len(cfg.Password.Reveal()))
	// Output:
	// [REDACTED] | [REDACTED] | "[REDACTED]" | {Username:mailer Password:[REDACTED]}
	// smtp login with [REDACTED] refused
	// level=INFO msg=smtp password=[REDACTED]
	// {"username":"mailer","password":"corrXXXXXXXXXXXXXXXXX"}
	// true 21
}

// Key material is never shown, not even masked.
func ExampleBytes() {
	key := secret.Bytes{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	js, _ := json.Marshal(struct{ Key secret.Bytes }{key})
	fmt.Printf("%v %x %s\n", key, key, js)
	fmt.Println(len(key.Reveal()), key.Equal(secret.Bytes{1, 2, 3, 4, 5, 6, 7, 8}))
	// Output:
	// [REDACTED] [REDACTED] {"Key":"[REDACTED]"}
	// 8 true
}
