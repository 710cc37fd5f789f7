package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"gopkg.in/yaml.v3"
)

var (
	secretType   = reflect.TypeFor[secret.String]()
	durationType = reflect.TypeFor[time.Duration]()
)

// plainTree turns a configuration value into the generic tree that
// yaml.Marshal writes as the configuration file holding it: every key
// written (a key left out would keep its built-in default), secrets in clear
// (secret.String marshals to its masked form, which is right for show-back
// but not for a configuration file), durations in Go's form.
func plainTree(v reflect.Value) any {
	switch {
	case v.Type() == secretType:
		return v.Interface().(secret.String).Reveal()
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plainTree(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, flags, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if flags == "inline" { // its keys are the struct's own
				maps.Copy(m, plainTree(v.Field(i)).(map[string]any))
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			m[name] = plainTree(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		s := make([]any, v.Len())
		for i := range s {
			s[i] = plainTree(v.Index(i))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = plainTree(v.MapIndex(k))
		}
		return m
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	panic(fmt.Sprintf("plainTree: unhandled %s", v.Type())) // test helper: a new field kind needs a case
}

// marshalConfig writes c as a configuration file.
func marshalConfig(t testing.TB, c *Config) []byte {
	t.Helper()
	b, err := yaml.Marshal(plainTree(reflect.ValueOf(c)))
	if err != nil {
		t.Fatalf("marshal %+v: %v", c, err)
	}
	return b
}

// configSeeds are real configurations: the built-in defaults, the documented
// example, the accounts of the tests, a JSON file, and broken ones.
func configSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{nil, defaultsYAML}
	if b, err := os.ReadFile("gateway.example.yaml"); err == nil {
		seeds = append(seeds, b)
	} else {
		tb.Fatal(err)
	}
	for _, s := range []string{
		"sip:\n  listen: 127.0.0.1:5070\naccounts:" + validAccount,
		`{"http": {"listen": "127.0.0.1:9090"}, "sip": {"digest": {"nonce_lifetime": "2m"}},
		  "accounts": [{"name": "j", "sip_realm": "j.example.com", "recording": {"enabled": true, "format": "mp3",
		  "bucket": {"url": "mem://"}}}]}`,
		"accounts:\n  - name: s3\n    recording:\n      enabled: true\n      bucket: {vendor: s3, s3: {bucket: rec, region: eu-west-1, access_key_id: AKIAEXAMPLE, secret_access_key: wJalrXUtnFEMI/K7MDENG, tags: [{name: a, value: b}]}}\n",
		"rtp:\n  address: 0.0.0.0\n  ports: 30000-30003\nsip:\n  media_address: 192.0.2.10\n",
		"api_key_pepper: \"0123456789abcdef\"\nlog: {level: DEBUG, format: json}\n",
		`{"http": {"listen": "127.0.0.1:9090", "listne": 1}}`,
		"sip:\n  listen: nope\nhttp:\n  listen: nope\nrtp:\n  ports: x",
		"a: &a [*a]",
		"base: &b {name: x}\naccounts: [*b]",
		"accounts: [{name: x, sip: {users: [{username: u, password: [1]}]}}]",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// YAML aliases let a small file describe a huge or endless tree: the
// file's key paths (for messages) must be computed without expanding them.
func TestConfigAliasesDoNotExpand(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20)) // an endless walk fails fast
	var laughs strings.Builder
	laughs.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&laughs, "l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				laughs.WriteString(", ")
			}
			fmt.Fprintf(&laughs, "*l%d", i-1)
		}
		laughs.WriteString("]\n")
	}
	for name, data := range map[string]string{
		"self reference": "a: &a [*a]",
		"nested self":    "accounts: &a [{name: x, applications: *a}]",
		"billion laughs": laughs.String(),
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := parseConfig("alias.yaml", []byte(data))
				done <- err
			}()
			select {
			case err := <-done:
				var ce *ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("parseConfig = %v, want a *ConfigError", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("parseConfig still running after 5 s (guard)")
			}
		})
	}
}

// The seeds that are valid configurations must stay so, or the round trip
// below checks nothing.
func TestConfigRoundTripSeeds(t *testing.T) {
	valid := 0
	for _, s := range configSeeds(t) {
		c, err := parseConfig("seed.yaml", s)
		if err != nil {
			continue
		}
		valid++
		checkConfigRoundTrip(t, s, c)
	}
	if valid < 6 {
		t.Fatalf("only %d seeds are valid configurations", valid)
	}
}

func checkConfigRoundTrip(t *testing.T, data []byte, c *Config) {
	t.Helper()
	out := marshalConfig(t, c)
	c2, err := parseConfig("again.yaml", out)
	if err != nil {
		t.Fatalf("configuration %q, written back as\n%s\ndoes not parse: %v", data, out, err)
	}
	// What the file gives is not a value: the written form gives every key.
	for _, x := range []*Config{c, c2} {
		for i := range x.Accounts {
			x.Accounts[i].Given = nil
		}
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("configuration %q changed when written back as\n%s\n%+v\nvs\n%+v", data, out, c, c2)
	}
	if out2 := marshalConfig(t, c2); string(out2) != string(out) {
		t.Fatalf("written form not stable:\n%s\nvs\n%s", out, out2)
	}
}

// FuzzParseConfig checks that no input makes parseConfig panic, that every
// failure is a *ConfigError (each problem naming a key) unless the input is
// the built-in defaults' own failure, and that a valid configuration written
// back as a file parses to the same configuration.
//
// Run it with a short minimization, or new inputs as large as the example
// file keep both workers minimizing for a minute each:
//
//	go test -run '^$' -fuzz FuzzParseConfig -fuzztime 20s -fuzzminimizetime 50x ./examples/gateway/
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("fuzz.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("parseConfig(%q) = %v, want a *ConfigError with problems", data, err)
			}
			return
		}
		checkConfigRoundTrip(t, data, c)
	})
}
