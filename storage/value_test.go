package storage

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendValueIsStrconvs holds appendValue to what it replaces,
// strconv's shortest 'f' form, on the values readings carry (decimals of
// every length, small and large, both signs) and on the edges: zero's
// sign, the largest values its shortcut takes and the first it leaves,
// values whose scaling rounds, NaN and the infinities.
func TestAppendValueIsStrconvs(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		want := strconv.AppendFloat(nil, v, 'f', -1, 64)
		if got := appendValue(nil, v); string(got) != string(want) {
			t.Fatalf("appendValue(%v) = %q, strconv gives %q", v, got, want)
		}
	}
	for _, v := range []float64{
		0, math.Copysign(0, -1), 1, -1, 12.5, 0.5, 0.05, -0.05, 1200, 3.25, 0.1, 0.2, 0.3, 0.285, 1.005,
		0.1 + 0.2, 1e-9, 1.5e-9, 1e-10, 123456789.123456, 999999999999999, 1e15, 1e15 + 1, 99999999999999.9,
		9007199254740993, 1e21, 1e22, 1e300, 5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.NaN(), math.Inf(1), math.Inf(-1), 2.675, 1.0000000000000002, 0.30000000000000004, 123.456e-5,
	} {
		check(v)
		check(-v)
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	for range 200_000 {
		// A decimal of up to 12 digits with up to 9 places, as a sensor
		// reports it, read as JSON's decoder reads it.
		places := rnd.IntN(10)
		m := rnd.Int64N(1_000_000_000_000)
		v, err := strconv.ParseFloat(strconv.FormatInt(m, 10)+"e-"+strconv.Itoa(places), 64)
		if err != nil {
			t.Fatal(err)
		}
		check(v)
		check(-v)
		// Any float64 at all.
		check(math.Float64frombits(rnd.Uint64()))
		// Arithmetic results, as a gateway's conversions give them.
		check(float64(rnd.IntN(100000)) * 0.1)
		check(rnd.Float64() * 100)
	}
}

// BenchmarkAppendValue formats the values of BenchmarkDecode's batch,
// short decimals as most gateways send them, with appendValue and with
// strconv.
func BenchmarkAppendValue(b *testing.B) {
	benchValues(b, []float64{12.5, 3.25, 0, 1.5, 1.62, 1.6, 25.5, 8.25, 0.5, 1200})
}

// BenchmarkAppendValueFull is BenchmarkAppendValue for values of full
// precision, as a gateway that scales a raw count in floating point sends
// them: appendValue's shortcut cannot take them, and this is what trying
// costs.
func BenchmarkAppendValueFull(b *testing.B) {
	benchValues(b, []float64{0.30000000000000004, 12.345678901234567, 3.1415926535897931, 25.499999999999996, 1.6199999999999999})
}

func benchValues(b *testing.B, vs []float64) {
	buf := make([]byte, 0, 64)
	for _, bc := range []struct {
		name string
		f    func([]byte, float64) []byte
	}{
		{"appendValue", appendValue},
		{"strconv", func(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', -1, 64) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				buf = bc.f(buf[:0], vs[i%len(vs)])
			}
		})
	}
}
