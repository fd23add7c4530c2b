package sensors

import "testing"

func TestProviderReplacesWhole(t *testing.T) {
	a, err := NewRegistry(DefaultCatalog(), []Site{{ID: "hz-01", Sector: SectorHazchem}},
		[]Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRegistry(DefaultCatalog(), []Site{{ID: "hz-01", Sector: SectorHazchem}},
		[]Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas"}, {ID: "GT-102", Site: "hz-01", Kind: "combustible_gas"}})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProvider(a)
	if p.Registry() != a {
		t.Fatal("a new provider does not hold its registry")
	}
	p.Set(b)
	if _, ok := p.Registry().Lookup("hz-01", "GT-102"); !ok || p.Registry() != b {
		t.Fatal("Set did not replace the registry")
	}
	var zero Provider
	if zero.Registry() != nil {
		t.Fatal("the zero provider holds a registry")
	}
}
