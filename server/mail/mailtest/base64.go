package mailtest

import (
	"encoding/base64"
	"strings"
)

func decodeBase64(b []byte) (string, error) {
	s := strings.Join(strings.Fields(string(b)), "")
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n"), nil
}
