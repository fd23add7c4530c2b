package sensors

import "sync/atomic"

// Provider holds the registry in force. Every part that validates, shows
// or routes by the registry reads it here, so a reload replaces it once
// and all of them see the new one from their next read; a reader sees
// either the old registry or the new one, never a mix. The zero value
// holds none. Its methods are safe for concurrent use.
type Provider struct {
	reg atomic.Pointer[Registry]
}

// NewProvider returns a provider holding reg.
func NewProvider(reg *Registry) *Provider {
	p := &Provider{}
	p.reg.Store(reg)
	return p
}

// Registry is the registry in force.
func (p *Provider) Registry() *Registry { return p.reg.Load() }

// Set makes reg the registry in force.
func (p *Provider) Set(reg *Registry) { p.reg.Store(reg) }
