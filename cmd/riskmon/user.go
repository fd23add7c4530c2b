package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

func newUser() *cobra.Command {
	u := &cobra.Command{Use: "user", Short: "Console accounts"}
	u.AddCommand(&cobra.Command{
		Use:   "hash",
		Short: "Read a password on standard input and print its bcrypt hash for http.users[].password_hash",
		Long: `hash reads one line from standard input, so the password stays out of the
shell history and the process list:

  printf '%s' 'the password' | riskmon user hash`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			pw := strings.TrimRight(line, "\r\n")
			if pw == "" {
				if err != nil {
					return fmt.Errorf("no password on standard input: %w", err)
				}
				return errors.New("empty password")
			}
			h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return nil
		},
	})
	return u
}
