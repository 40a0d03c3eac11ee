package session

import "strings"

// maxUserAgent is how much of a User-Agent header Device reads.
const maxUserAgent = 512

// userAgentTokens map a token of a User-Agent header to the name Device shows, in the order
// they are tried (Edge and Opera say "Chrome" too; Android says "Linux"; iPads say "Mac OS X").
var (
	browserTokens = [][2]string{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"},
		{"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chrome"}, {"Safari/", "Safari"},
	}
	platformTokens = [][2]string{
		{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"Windows", "Windows"}, {"CrOS", "ChromeOS"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	}
)

// Device summarises a User-Agent header as "<browser> · <platform>" ("Firefox · Linux") from a
// fixed list of names, so that a user's list of sessions can say which device each is
// without Gatehouse storing the header (a fingerprint) itself. It returns what it
// recognises, or "" when it recognises neither.
func Device(userAgent string) string {
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	var parts []string
	for _, tokens := range [][][2]string{browserTokens, platformTokens} {
		for _, t := range tokens {
			if strings.Contains(userAgent, t[0]) {
				parts = append(parts, t[1])
				break
			}
		}
	}
	return strings.Join(parts, " · ")
}
