// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * JSON output for the uhmm command, with json-c (as ndctl): every command's
 * --json prints one array.  Strings from outside (a module's descriptor)
 * need not be UTF-8, and json-c passes bytes through as they are, so each
 * invalid sequence becomes U+FFFD first: the output is always valid JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhmm.h"

/* Length of the valid UTF-8 sequence at @s (of @n bytes left), 0 if none. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

struct json_object *json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, len, i = 0, o = 0;
	struct json_object *obj;
	char *clean;

	if (!s)
		return NULL;	/* json-c's null */
	n = strlen(s);
	clean = malloc(n * 3 + 1);	/* each byte at most one U+FFFD (3 bytes) */
	if (!clean)
		return json_object_new_string("");
	while (i < n) {
		len = utf8_sequence(p + i, n - i);
		if (len) {
			memcpy(clean + o, p + i, len);
			o += len;
			i += len;
		} else {
			memcpy(clean + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	clean[o] = '\0';
	obj = json_object_new_string(clean);
	free(clean);
	return obj;
}

int json_print(struct json_object *array)
{
	const char *text = json_object_to_json_string_ext(array, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_SPACED |
							  JSON_C_TO_STRING_NOSLASHESCAPE);

	printf("%s\n", text ? text : "[]");
	json_object_put(array);
	return 0;
}
