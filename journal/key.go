package journal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyBytes is the size of a generated key: as long as the HMAC's hash.
const keyBytes = 32

// LoadKey reads the journal key from path: hex digits, at least 16 bytes'
// worth, surrounding space ignored. With create, a missing file is made
// with a new random key, readable by its owner alone. A key file others
// can read or write is refused: whoever reads the key can reseal an
// edited journal.
func LoadKey(path string, create bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return newKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("journal key %s: mode %04o lets others read or change it; chmod 600 it", path, fi.Mode().Perm())
	}
	return parseKey(path, data)
}

func parseKey(path string, data []byte) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("journal key %s: want hex digits: %w", path, err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("journal key %s: %d bytes, want at least 16", path, len(key))
	}
	return key, nil
}

func newKey(path string) ([]byte, error) {
	key := make([]byte, keyBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("journal key: %w", err)
	}
	return key, nil
}
