package driver

import "testing"

func num(f float64, text string) Value { return Value{Kind: Number, Text: text, Num: f} }
func str(s string) Value               { return Value{Kind: String, Text: s} }
func boolean(b bool) Value {
	if b {
		return Value{Kind: Bool, Text: "true", Num: 1}
	}
	return Value{Kind: Bool, Text: "false"}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Value
		want int
	}{
		{"numbers numerically", num(5000, "5000"), num(45000, "45000"), -1},
		{"equal numbers", num(1.5, "1.5"), num(1.5, "1.5"), 0},
		{"strings bytewise", str("45000"), str("5000"), -1},
		{"upper before lower", str("Z"), str("a"), -1},
		{"false before true", boolean(false), boolean(true), -1},
		{"numbers before strings", num(9e9, "9000000000"), str(""), -1},
		{"strings before booleans", str("zzz"), boolean(false), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(tc.a, tc.b); got != tc.want {
				t.Fatalf("Compare = %d, want %d", got, tc.want)
			}
			if got := Compare(tc.b, tc.a); got != -tc.want {
				t.Fatalf("reversed Compare = %d, want %d", got, -tc.want)
			}
		})
	}
}

func TestPickAndCompareKeys(t *testing.T) {
	vals := []Value{str("44"), str("22"), str("99")}
	if v, ok := Pick(vals, false); !ok || v.Text != "22" {
		t.Fatalf("ascending picks %v", v)
	}
	if v, ok := Pick(vals, true); !ok || v.Text != "99" {
		t.Fatalf("descending picks %v", v)
	}
	if _, ok := Pick(nil, false); ok {
		t.Fatal("Pick of nothing")
	}
	for _, desc := range []bool{false, true} {
		if CompareKeys(str("a"), true, Value{}, false, desc) != -1 || CompareKeys(Value{}, false, str("a"), true, desc) != 1 {
			t.Fatalf("missing values must sort last (desc=%v)", desc)
		}
	}
	if CompareKeys(str("a"), true, str("b"), true, true) != 1 {
		t.Fatal("descending order")
	}
}
