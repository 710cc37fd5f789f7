package media

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// savpOffer returns an offer of one RTP/SAVP line with the given a=crypto
// values (and an RTP/AVP line when clear is set).
func savpOffer(t *testing.T, clear bool, cryptos ...string) *SessionDescription {
	t.Helper()
	body := "v=0\r\no=sbc 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/SAVP 0 8\r\na=label:1\r\na=sendonly\r\n"
	for _, c := range cryptos {
		body += "a=crypto:" + c + "\r\n"
	}
	if clear {
		body += "m=audio 4002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n"
	}
	d, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func answerSAVP(offer *SessionDescription, sdes *SDESConfig) (*SessionDescription, error) {
	return Answer(offer, AnswerConfig{Address: answerAddr, Direction: RecvOnly, SDES: sdes,
		Port: func(i int, _ *Media) (int, error) { return 20000 + 2*i, nil }})
}

// TestAnswerSDES: the answerer takes the offer's first usable a=crypto line
// (RFC 4568 §5.1.2), answers it with the same tag and suite and a key of
// its own, and the exchange parses back to the same keys on both sides.
func TestAnswerSDES(t *testing.T) {
	offer := savpOffer(t, true,
		"1 F8_128_HMAC_SHA1_80 inline:"+rfcKey,                  // unknown suite
		"2 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey[:36],         // short key
		"3 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+" KDR=2",     // unsupported parameter
		"4 AES_CM_128_HMAC_SHA1_32 inline:"+rfcKey2+"|2^31|1:1", // the first usable one
		"5 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey3)
	ans, err := answerSAVP(offer, &SDESConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m := ans.Media[0]
	if m.Protocol != ProtoSRTP || m.Rejected() || len(m.Crypto) != 1 || m.Crypto[0].Tag != 4 || m.Crypto[0].Suite != SuiteAESCM128HMACSHA1_32 {
		t.Fatalf("answered %s port %d with %v", m.Protocol, m.Port, m.Crypto)
	}
	if k := m.Crypto[0].Keys[0]; bytes.Equal(k.Key, offer.Media[0].Crypto[3].Keys[0].Key) || k.Lifetime != 0 || k.MKILength != 0 || len(k.Key) != 30 {
		t.Fatalf("answer key: %d bytes, lifetime %d, MKI length %d, or the offer's key", len(k.Key), k.Lifetime, k.MKILength)
	}
	if c := ans.Media[1]; c.Protocol != ProtoRTP || c.Rejected() || len(c.Crypto) != 0 {
		t.Fatalf("the clear line: %+v", c)
	}
	body, err := ans.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("m=audio 20000 RTP/SAVP 0 8\r\n")) || bytes.Count(body, []byte("a=crypto:")) != 1 {
		t.Fatalf("answer body:\n%s", body)
	}
	back, err := ParseSDP(body) // what the offerer reads
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NegotiatedSDES(&offer.Media[0], &back.Media[0])
	if err != nil {
		t.Fatal(err)
	}
	if keys.Offer.Tag != 4 || !keys.Offer.Keys[0].Key.Equal(offer.Media[0].Crypto[3].Keys[0].Key) || !keys.Answer.Keys[0].Key.Equal(m.Crypto[0].Keys[0].Key) {
		t.Fatalf("negotiated %v / %v", keys.Offer, keys.Answer)
	}
	// Each side's key opens what the other protects with it.
	for _, c := range []Crypto{keys.Offer, keys.Answer} {
		tx, rx, _ := srtpPairOf(t, c, SRTPConfig{})
		pkt := rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160))
		if dec, err := rx.Decrypt(protect(t, tx, pkt)); err != nil || !bytes.Equal(dec, pkt) {
			t.Fatalf("tag %d: %v", c.Tag, err)
		}
	}
}

func TestAnswerSDESRefusals(t *testing.T) {
	tests := []struct {
		name   string
		offer  *SessionDescription
		sdes   *SDESConfig
		kinds  []error
		reason []string
	}{
		{"SRTP not enabled", savpOffer(t, false, "1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey), nil,
			[]error{ErrNoUsableCodec}, []string{"protocol RTP/SAVP is not enabled (AnswerConfig.SDES)"}},
		{"no a=crypto", savpOffer(t, false), &SDESConfig{},
			[]error{ErrNoUsableCodec, ErrUnsupportedCrypto}, []string{"RTP/SAVP without an a=crypto line"}},
		{"suite not accepted", savpOffer(t, false, "1 AES_CM_128_HMAC_SHA1_32 inline:"+rfcKey), &SDESConfig{Suites: []CryptoSuite{SuiteAEADAES128GCM}},
			[]error{ErrNoUsableCodec, ErrUnsupportedCrypto}, []string{`a=crypto:1 crypto-suite "AES_CM_128_HMAC_SHA1_32" is not accepted`}},
		{"nothing usable", savpOffer(t, false,
			"1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+"|2^50",
			"2 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+";inline:"+rfcKey2,
			"3 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+" UNENCRYPTED_SRTP",
			"4 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+"|2^20|1:0",
			"5 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey+" FEC_KEY=inline:"+rfcKey2),
			&SDESConfig{}, []error{ErrNoUsableCodec, ErrUnsupportedCrypto}, []string{
				"a=crypto:1 lifetime 1125899906842624 is over 2^48",
				"a=crypto:2 has 2 master keys",
				`a=crypto:3 session parameter "UNENCRYPTED_SRTP" is not supported`,
				"a=crypto:4 key-params 1: MKI length 0", // did not parse
				"a=crypto:5 session parameter FEC_KEY is not supported",
			}},
		{"duplicate tags", savpOffer(t, false, "1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey, "1 AES_CM_128_HMAC_SHA1_32 inline:"+rfcKey2),
			&SDESConfig{}, []error{ErrNoUsableCodec, ErrUnsupportedCrypto}, []string{"a=crypto tag 1 appears 2 times"}},
		{"clear refused", savpOffer(t, false), &SDESConfig{Require: true}, nil, nil},
	}
	// the last case: a clear offer under Require
	clear, err := ParseSDP([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests[len(tests)-1].offer = clear
	tests[len(tests)-1].kinds = []error{ErrNoUsableCodec, ErrSRTPRequired}
	tests[len(tests)-1].reason = []string{"SRTP is required and the line offers RTP/AVP"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := answerSAVP(tc.offer, tc.sdes)
			if err == nil {
				t.Fatal("answered")
			}
			for _, k := range tc.kinds {
				if !errors.Is(err, k) {
					t.Errorf("%v does not wrap %v", err, k)
				}
			}
			for _, k := range []error{ErrUnsupportedCrypto, ErrSRTPRequired} {
				if errors.Is(err, k) && !errorsContain(tc.kinds, k) {
					t.Errorf("%v wraps %v", err, k)
				}
			}
			for _, r := range tc.reason {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("%q does not say %q", err, r)
				}
			}
			for _, k := range []string{rfcKey[:16], rfcKey2[:16]} {
				if strings.Contains(err.Error(), k) {
					t.Errorf("%q shows a key", err)
				}
			}
		})
	}
}

func errorsContain(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

// TestNegotiatedSDESChecksTheAnswer: an offerer refuses an answer that did
// not follow RFC 4568 §5.1.2.
func TestNegotiatedSDESChecksTheAnswer(t *testing.T) {
	offer := savpOffer(t, false, "1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey, "2 AES_CM_128_HMAC_SHA1_32 inline:"+rfcKey2)
	om := &offer.Media[0]
	good, _ := NewCrypto(2, SuiteAESCM128HMACSHA1_32)
	other, _ := NewCrypto(1, SuiteAESCM128HMACSHA1_80)
	wrongSuite, _ := NewCrypto(1, SuiteAESCM128HMACSHA1_32)
	unknownTag, _ := NewCrypto(3, SuiteAESCM128HMACSHA1_80)
	short := good
	short.Keys = []CryptoKey{{Key: good.Keys[0].Key[:20]}}
	answer := func(proto string, port int, c ...Crypto) *Media {
		return &Media{Type: "audio", Port: port, Protocol: proto, Crypto: c}
	}
	if k, err := NegotiatedSDES(om, answer(ProtoSRTP, 5000, good)); err != nil || k.Offer.Tag != 2 || k.Answer.Tag != 2 {
		t.Fatalf("good answer: %v %v", k, err)
	}
	dup := savpOffer(t, false, "1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey, "1 AES_CM_128_HMAC_SHA1_80 inline:"+rfcKey2)
	if _, err := NegotiatedSDES(&dup.Media[0], answer(ProtoSRTP, 5000, other)); !errors.Is(err, ErrUnsupportedCrypto) || !strings.Contains(err.Error(), "tag 1 2 times") {
		t.Errorf("an offer with a tag twice: %v", err)
	}
	for _, tc := range []struct {
		m    *Media
		want string
	}{
		{answer(ProtoSRTP, 0, good), "rejected the line"},
		{answer(ProtoRTP, 5000, good), "offer RTP/SAVP, answer RTP/AVP"},
		{answer(ProtoSRTP, 5000), "holds 0 a=crypto lines"},
		{answer(ProtoSRTP, 5000, good, other), "holds 2 a=crypto lines"},
		{answer(ProtoSRTP, 5000, unknownTag), "tag 3 was not offered"},
		{answer(ProtoSRTP, 5000, wrongSuite), `a=crypto:1 has suite "AES_CM_128_HMAC_SHA1_32", the offer's "AES_CM_128_HMAC_SHA1_80"`},
		{answer(ProtoSRTP, 5000, short), "answered line: media: unsupported SRTP crypto: a=crypto:2 AES_CM_128_HMAC_SHA1_32 needs 30 bytes"},
	} {
		_, err := NegotiatedSDES(om, tc.m)
		if !errors.Is(err, ErrUnsupportedCrypto) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NegotiatedSDES = %v, want %q", err, tc.want)
		}
	}
}
