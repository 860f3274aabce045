package policy

import (
	_ "embed"
	"strings"
	"sync"
)

// commonPasswordsText is the embedded blocklist: one lower-case password per
// line, deduplicated and sorted. Its origin and licence are recorded in
// common-passwords.SOURCE.
//
//go:embed common-passwords.txt
var commonPasswordsText string

// blocklist is an immutable set of common passwords.
type blocklist map[string]struct{}

func (b blocklist) has(s string) bool {
	_, ok := b[s]
	return ok
}

// commonPasswords builds the set on first use rather than at package
// initialisation: about fifty thousand entries cost a few megabytes and a few
// milliseconds, which programs that import the package only for its types
// (such as the configuration loader) should not pay. The set is never
// modified after construction, so sharing it between goroutines is safe.
var commonPasswords = sync.OnceValue(func() blocklist {
	set := make(blocklist, strings.Count(commonPasswordsText, "\n")+1)
	for line := range strings.Lines(commonPasswordsText) {
		if w := strings.TrimRight(line, "\r\n"); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})
