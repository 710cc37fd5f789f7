package media

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// Keys of the RFC 4568 examples (§3.1, §9.1) and of lines seen from SBCs.
const (
	rfcKey  = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR" // 30 bytes
	rfcKey2 = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj" // 30 bytes
	rfcKey3 = "QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5" // 30 bytes
)

// cryptoExamples are a=crypto values from RFC 4568 and the shapes real
// peers send; all parse.
var cryptoExamples = map[string]string{
	"rfc4568 §3.1 offer":  "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:32",
	"rfc4568 §9.1":        "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4",
	"rfc4568 two keys":    "1 AES_CM_128_HMAC_SHA1_32 inline:" + rfcKey2 + "|2^20|1:4;inline:" + rfcKey3 + "|2^20|2:4 FEC_ORDER=FEC_SRTP",
	"rfc4568 §5.1.1 kdr":  "2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP",
	"cisco lifetime 2^31": "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^31",
	"plain":               "1 AES_CM_128_HMAC_SHA1_32 inline:" + rfcKey,
	"mki only":            "3 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:1",
	"decimal lifetime":    "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1000000",
	"gcm unpadded":        "9 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw",
	"gcm padded":          "9 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==",
	"wsh and tabs":        "12\tAES_CM_128_HMAC_SHA1_80  inline:" + rfcKey + "\tWSH=256 ",
	"lowercase":           "1 aes_cm_128_hmac_sha1_80 INLINE:" + rfcKey,
}

func TestParseCryptoExamples(t *testing.T) {
	c, err := ParseCrypto(cryptoExamples["rfc4568 two keys"])
	if err != nil {
		t.Fatal(err)
	}
	key2, _ := base64.StdEncoding.DecodeString(rfcKey2)
	key3, _ := base64.StdEncoding.DecodeString(rfcKey3)
	want := Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_32, Keys: []CryptoKey{
		{Key: key2, Lifetime: 1 << 20, MKI: 1, MKILength: 4},
		{Key: key3, Lifetime: 1 << 20, MKI: 2, MKILength: 4},
	}, SessionParams: []string{"FEC_ORDER=FEC_SRTP"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed %#v\nwant %#v", c, want)
	}
	for name, v := range cryptoExamples {
		t.Run(name, func(t *testing.T) {
			c, err := ParseCrypto(v)
			if err != nil {
				t.Fatal(err)
			}
			checkCryptoRoundTrip(t, c)
		})
	}
	if c, _ := ParseCrypto(cryptoExamples["gcm unpadded"]); len(c.Keys[0].Key) != 28 {
		t.Errorf("unpadded GCM key: %d bytes, want 28", len(c.Keys[0].Key))
	}
	if c, _ := ParseCrypto(cryptoExamples["decimal lifetime"]); c.Keys[0].Lifetime != 1000000 {
		t.Errorf("lifetime %d", c.Keys[0].Lifetime)
	}
}

// checkCryptoRoundTrip: c marshals, and what it marshals to parses back to
// c and marshals to the same text.
func checkCryptoRoundTrip(t *testing.T, c Crypto) {
	t.Helper()
	v, err := c.Marshal()
	if err != nil {
		t.Fatalf("marshal of a parsed line: %v", err)
	}
	c2, err := ParseCrypto(v)
	if err != nil {
		t.Fatalf("reparse of %q: %v", c.String(), err)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip changed the line:\n%#v\n%#v", c, c2)
	}
	if v2, _ := c2.Marshal(); v2 != v {
		t.Fatalf("marshal not stable: %q, then %q", c.String(), c2.String())
	}
}

func TestParseCryptoErrors(t *testing.T) {
	tests := []struct{ value, want string }{
		{"", "got 0 fields"},
		{"1 AES_CM_128_HMAC_SHA1_80", "got 2 fields"},
		{"x AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey, `tag "x"`},
		{"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey, `tag "1234567890"`},
		{"1 AES-CM inline:" + rfcKey, `crypto-suite "AES-CM"`},
		{"1 AES_CM_128_HMAC_SHA1_80 " + rfcKey, "no key method"},
		{"1 AES_CM_128_HMAC_SHA1_80 uri:" + rfcKey, `key method "uri"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:", "empty inline key"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "!", "(41 characters) is not base64"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|0", `lifetime "0"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^64", `lifetime "2^64"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^x", `lifetime "2^x"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:0", "MKI length 0"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:129", "MKI length 129"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|256:1", "MKI value 256 does not fit in 1 bytes"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:x", `MKI "1:x"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:4|2^20", "MKI must come last"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|2^20", `a second lifetime "2^20"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4|x", "at most 2"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + ";", "key-params 2: no key method"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " WSH=\u00e9", "session parameter 1 is not visible ASCII"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := ParseCrypto(tc.value)
			if !errors.Is(err, ErrMalformedSDP) {
				t.Fatalf("ParseCrypto(%q) = %v, want ErrMalformedSDP", tc.value, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), rfcKey[:20]) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

func TestCryptoValidate(t *testing.T) {
	line := func(s string) Crypto {
		c, err := ParseCrypto(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ok := []string{
		cryptoExamples["rfc4568 §9.1"], cryptoExamples["rfc4568 §3.1 offer"], cryptoExamples["cisco lifetime 2^31"],
		cryptoExamples["plain"], cryptoExamples["mki only"], cryptoExamples["gcm unpadded"], cryptoExamples["wsh and tabs"],
		cryptoExamples["lowercase"],
		"1 AEAD_AES_256_GCM inline:" + base64.StdEncoding.EncodeToString(make([]byte, 44)) + "|2^48 FEC_ORDER=FEC_SRTP",
	}
	for _, v := range ok {
		if err := line(v).Validate(); err != nil {
			t.Errorf("Validate(%q): %v", v, err)
		}
	}
	bad := []struct{ value, want string }{
		{cryptoExamples["rfc4568 §5.1.1 kdr"], `crypto-suite "F8_128_HMAC_SHA1_80" (supported: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM, AEAD_AES_256_GCM)`},
		{"1 AES_256_CM_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(make([]byte, 46)), `crypto-suite "AES_256_CM_HMAC_SHA1_80"`},
		{cryptoExamples["rfc4568 two keys"], "has 2 master keys"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey[:36], "AES_CM_128_HMAC_SHA1_80 needs 30 bytes of master key and salt, the inline key has 27"},
		{"1 AEAD_AES_128_GCM inline:" + rfcKey, "AEAD_AES_128_GCM needs 28 bytes of master key and salt, the inline key has 30"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^49", "lifetime 562949953421312 is over 2^48"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " KDR=1", `session parameter "KDR=1" is not supported`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " UNENCRYPTED_SRTP", `session parameter "UNENCRYPTED_SRTP"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " UNAUTHENTICATED_SRTP", `session parameter "UNAUTHENTICATED_SRTP"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " FEC_ORDER=SRTP_FEC", `session parameter "FEC_ORDER=SRTP_FEC"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " FEC_KEY=inline:" + rfcKey2, "session parameter FEC_KEY is not supported"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " X-SECRET=" + rfcKey2, `unknown session parameter "X-SECRET"`},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " WSH=10", "WSH=10: the window size hint must be a number of at least 64"},
	}
	for _, tc := range bad {
		t.Run(tc.want, func(t *testing.T) {
			c := line(tc.value)
			err := c.Validate()
			if !errors.Is(err, ErrUnsupportedCrypto) {
				t.Fatalf("Validate(%q) = %v, want ErrUnsupportedCrypto", tc.value, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if _, err := NewSRTPContext(c, SRTPConfig{}); !errors.Is(err, ErrUnsupportedCrypto) {
				t.Errorf("NewSRTPContext = %v, want ErrUnsupportedCrypto", err)
			}
			for _, k := range []string{rfcKey[:20], rfcKey2[:20], rfcKey3[:20]} {
				if strings.Contains(err.Error(), k) || strings.Contains(c.String(), k) {
					t.Errorf("error %q or String %q shows a key", err, c.String())
				}
			}
		})
	}
}

func TestNewCryptoAndOffer(t *testing.T) {
	for _, s := range SupportedCryptoSuites() {
		a, err := NewCrypto(7, s)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewCrypto(7, s)
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		if len(a.Keys[0].Key) != s.KeyLen() || bytes.Equal(a.Keys[0].Key, b.Keys[0].Key) {
			t.Errorf("%s: key of %d bytes (want %d), or two keys alike", s, len(a.Keys[0].Key), s.KeyLen())
		}
		checkCryptoRoundTrip(t, a)
	}
	if _, err := NewCrypto(1, "F8_128_HMAC_SHA1_80"); !errors.Is(err, ErrUnsupportedCrypto) || !strings.Contains(err.Error(), `"F8_128_HMAC_SHA1_80"`) {
		t.Errorf("unsupported suite: %v", err)
	}
	if _, err := NewCrypto(1e9, SuiteAESCM128HMACSHA1_80); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "1000000000") {
		t.Errorf("tag out of range: %v", err)
	}
	lines, err := OfferCrypto()
	if err != nil || len(lines) != 2 || lines[0].Tag != 1 || lines[0].Suite != SuiteAESCM128HMACSHA1_80 || lines[1].Tag != 2 || lines[1].Suite != SuiteAESCM128HMACSHA1_32 {
		t.Fatalf("OfferCrypto() = %v, %v", lines, err)
	}
	if _, err := OfferCrypto(SuiteAEADAES128GCM, "NULL"); !errors.Is(err, ErrUnsupportedCrypto) {
		t.Errorf("OfferCrypto with an unsupported suite: %v", err)
	}
}

func TestCryptoMarshalErrors(t *testing.T) {
	key := make([]byte, 30)
	tests := []struct {
		c    Crypto
		want string
	}{
		{Crypto{Tag: -1, Suite: SuiteAESCM128HMACSHA1_80, Keys: []CryptoKey{{Key: key}}}, "tag -1"},
		{Crypto{Tag: 1, Suite: "A B", Keys: []CryptoKey{{Key: key}}}, `crypto-suite "A B"`},
		{Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_80}, "has no key"},
		{Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_80, Keys: []CryptoKey{{}}}, "empty key"},
		{Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_80, Keys: []CryptoKey{{Key: key, MKI: 3}}}, "MKI value 3 without a length"},
		{Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_80, Keys: []CryptoKey{{Key: key, MKI: 300, MKILength: 1}}}, "MKI value 300 does not fit"},
		{Crypto{Tag: 1, Suite: SuiteAESCM128HMACSHA1_80, Keys: []CryptoKey{{Key: key}}, SessionParams: []string{"A B"}}, "session parameter 1"},
	}
	for _, tc := range tests {
		if _, err := tc.c.Marshal(); !errors.Is(err, ErrMalformedSDP) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Marshal(%v) = %v, want %q", tc.c, err, tc.want)
		}
	}
}

// TestCryptoNeverPrintsKey: every printed form of a Crypto, of a Media and
// of a SessionDescription holding one, and of log lines with them, shows
// no key material; only Marshal writes it.
func TestCryptoNeverPrintsKey(t *testing.T) {
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4 FEC_KEY=inline:" + rfcKey2)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(c.Keys[0].Key)
	d := SessionDescription{Media: []Media{{Type: "audio", Port: 4000, Protocol: ProtoSRTP, Crypto: []Crypto{c}}}}
	var logJSON, logText bytes.Buffer
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("offer", "crypto", c, "media", d.Media[0], "sdp", d)
	slog.New(slog.NewTextHandler(&logText, nil)).Info("offer", "crypto", c, "media", d.Media[0], "sdp", d)
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"String": c.String(), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"key %v": fmt.Sprintf("%v", c.Keys[0]), "media %+v": fmt.Sprintf("%+v", d.Media[0]), "sdp %+v": fmt.Sprintf("%+v", d),
		"sdp %#v": fmt.Sprintf("%#v", d), "slog JSON": logJSON.String(), "slog text": logText.String(), "JSON": string(js),
	}
	for name, got := range forms {
		for _, leak := range []string{rfcKey[:16], rfcKey2[:16], fmt.Sprintf("%x", raw[:8]), fmt.Sprint(raw[:4])[1:8]} {
			if strings.Contains(got, leak) {
				t.Errorf("%s shows key material (%q): %s", name, leak, got)
			}
		}
	}
	if got, want := c.String(), "1 AES_CM_128_HMAC_SHA1_80 inline:[REDACTED]|2^20|1:4 FEC_KEY=[REDACTED]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if v, _ := c.Marshal(); !strings.Contains(v, rfcKey) {
		t.Errorf("Marshal() = %q lost the key", v)
	}
}

// FuzzCrypto: whatever ParseCrypto accepts marshals, parses back to the same
// line and marshals to the same text; String never shows the key; Validate
// and NewSRTPContext agree.
func FuzzCrypto(f *testing.F) {
	for _, v := range cryptoExamples {
		f.Add(v)
	}
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4 KDR=1 WSH=64 UNENCRYPTED_SRTCP")
	f.Add("0 AEAD_AES_256_GCM inline:" + base64.StdEncoding.EncodeToString(make([]byte, 44)) + "|2^48|18446744073709551615:128")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCrypto(v)
		if err != nil {
			if !errors.Is(err, ErrMalformedSDP) {
				t.Fatalf("error %v does not wrap ErrMalformedSDP", err)
			}
			return
		}
		checkCryptoRoundTrip(t, c)
		// The key-params as printed (the suite and the session parameters
		// may hold any text, a key's too).
		printed := strings.Fields(c.String())[2]
		for _, k := range c.Keys {
			if enc := base64.StdEncoding.EncodeToString(k.Key); len(enc) >= 8 && strings.Contains(printed, enc) {
				t.Fatalf("String() %q shows the key", c.String())
			}
		}
		verr := c.Validate()
		ctx, cerr := NewSRTPContext(c, SRTPConfig{})
		if (verr == nil) != (cerr == nil) {
			t.Fatalf("Validate %v but NewSRTPContext %v", verr, cerr)
		}
		if verr != nil && !errors.Is(verr, ErrUnsupportedCrypto) {
			t.Fatalf("Validate error %v does not wrap ErrUnsupportedCrypto", verr)
		}
		if ctx == nil {
			return
		}
		// A usable line protects a packet that a second context of the
		// same line opens again, Overhead bytes longer.
		rx, err := NewSRTPContext(c, SRTPConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pkt := rtpPacket(t, 0xabc, 7, 160, 0, false, pattern(7, 160))
		enc, err := ctx.Encrypt(nil, pkt)
		if err != nil || len(enc) != len(pkt)+ctx.Overhead() {
			t.Fatalf("Encrypt: %d bytes, %v", len(enc), err)
		}
		dec, err := rx.Decrypt(enc)
		if err != nil || !bytes.Equal(dec, pkt) {
			t.Fatalf("Decrypt: %v", err)
		}
	})
}
