package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, `stats: Counts the words and characters of a text.
  input: {"type":"object","properties":{"text":{"type":"string","description":"the text to count."},"top":{"type":"integer","description":"how many of the most frequent words to list.","default":3}},"required":["text"],"additionalProperties":false}
tokens: Yields the words of a text with their offsets, one at a time.
  input: {"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}
translate: Translates a word with the host's dictionary.
  input: {"type":"object","properties":{"word":{"type":"string"},"to":{"type":"string","enum":["fr","de"]}},"required":["word","to"],"additionalProperties":false}
translate_all: Translates words, asking the host's dictionary for all of them at once.
  input: {"type":"object","properties":{"words":{"type":"array","items":{"type":"string"}},"to":{"type":"string","enum":["fr","de"]}},"required":["words","to"],"additionalProperties":false}
stats: {Words:10 Chars:41 Top:[the saw]}
first tokens: The@0 cat@4 saw@8 the@12
cat in French: chat
in German: cat=Katze dog=Hund sun=Sonne
refused: translate: bad arguments: argument to: expected one of "fr", "de", got 'es'
`, out.String())
}
