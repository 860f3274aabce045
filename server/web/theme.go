package web

import (
	"fmt"
	"regexp"
)

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// themeCSS turns the school's primary colour into a style sheet, served as a
// fingerprinted asset so that no inline style is needed (the CSP forbids
// them).
func themeCSS(primary string) []byte {
	if !hexColour.MatchString(primary) {
		primary = "#1d4ed8"
	}
	return fmt.Appendf(nil, ":root{--primary:%s}\n", primary)
}
