package app

import (
	"fmt"
	"log/slog"

	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
)

// newAuth builds the console's accounts from the configured users and the
// resolved API tokens. Every login, logout, failed login and console
// acknowledgement goes to the journal when there is one.
func newAuth(cfg config.HTTP, tokens []config.Token, sessions console.SessionStore, j *journal.Journal, log *slog.Logger) (*console.Auth, error) {
	opts := console.AuthOptions{SessionTTL: cfg.SessionTTL, SecureCookies: cfg.SecureCookies, Logger: log}
	if sessions != nil {
		opts.Sessions = sessions
	}
	for _, tk := range tokens {
		role, err := console.ParseRole(tk.Role)
		if err != nil {
			return nil, fmt.Errorf("http.tokens %s: %w", tk.Name, err)
		}
		opts.Tokens = append(opts.Tokens, console.Token{Name: tk.Name, Token: tk.Token, Role: role})
	}
	for _, u := range cfg.Users {
		role, err := console.ParseRole(u.Role)
		if err != nil {
			return nil, fmt.Errorf("http.users %s: %w", u.Name, err)
		}
		opts.Users = append(opts.Users, console.User{Name: u.Name, PasswordHash: u.PasswordHash, Role: role})
	}
	if j != nil {
		opts.Audit = func(r console.AuditRecord) { j.Action(r.At, r) }
	}
	a, err := console.NewAuth(opts)
	if err != nil {
		return nil, fmt.Errorf("http.users: %w", err)
	}
	return a, nil
}
