package demo

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/internal/config"
)

// account is a console account the demo makes, with its password in the
// clear for the banner.
type account struct {
	user     config.User
	password string
}

// newAccounts makes one console account per role with a fresh random
// password, so a newcomer can log in and try acknowledge and shelve. The
// passwords are printed once in the banner and kept nowhere else.
func newAccounts() ([]account, error) {
	var out []account
	for _, role := range []string{"admin", "operator", "viewer"} {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		pw := base64.RawURLEncoding.EncodeToString(b)
		// MinCost: the accounts live as long as the demo, and a login
		// should not cost the demo machine a visible pause.
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		out = append(out, account{config.User{Name: role, PasswordHash: string(h), Role: role}, pw})
	}
	return out, nil
}

// accountLine is the banner's list of accounts, "user / password" each.
func accountLine(as []account) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.user.Name + " / " + a.password
	}
	return strings.Join(parts, "   ")
}
