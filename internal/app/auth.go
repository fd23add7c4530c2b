package app

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/riskmon/riskmon/internal/config"
)

// roleRank orders roles: a higher rank may do what a lower one may.
var roleRank = map[string]int{"viewer": 1, "operator": 2, "admin": 3}

// authorize finds the caller's token and checks it holds at least role
// need. It returns the token's name, recorded with every change, or the
// HTTP status to answer with.
func authorize(tokens []config.Token, r *http.Request, need string) (string, int) {
	h := r.Header.Get("Authorization")
	got, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || got == "" {
		return "", http.StatusUnauthorized
	}
	for _, tk := range tokens {
		// Constant time, so the answer's timing says nothing of a token.
		if subtle.ConstantTimeCompare([]byte(got), []byte(tk.Token)) == 1 {
			if roleRank[tk.Role] < roleRank[need] {
				return tk.Name, http.StatusForbidden
			}
			return tk.Name, 0
		}
	}
	return "", http.StatusUnauthorized
}
