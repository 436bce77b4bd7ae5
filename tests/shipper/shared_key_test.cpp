#include <gtest/gtest.h>

#include "shipper/destination.h"

using namespace etp2s;

// The known-answer vector of ../shared/docs/sentinel-ingestion.md.
TEST(SharedKey, KnownAnswerVector) {
  const std::string body = "[{\"AlertId\":\"a-1\",\"Subject\":\"\u00dcn\u00efc\u00f6d\u00e9 \u2603\"}]";
  ASSERT_EQ(body.size(), 47u);  // UTF-8 bytes, while the text has 41 characters
  Secret key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==");
  EXPECT_EQ(shared_key_authorization("00000000-1111-2222-3333-444444444444", key, body.size(),
                                     "Sun, 22 Nov 2026 13:45:00 GMT"),
            "SharedKey 00000000-1111-2222-3333-444444444444:s2N8IAMME5VEFe+VDULdsesd+6js2JaTYs7EVdpupZs=");
  // The character count (41) gives the wrong signature the reference warns about.
  EXPECT_EQ(shared_key_authorization("00000000-1111-2222-3333-444444444444", key, 41,
                                     "Sun, 22 Nov 2026 13:45:00 GMT"),
            "SharedKey 00000000-1111-2222-3333-444444444444:3kuc8neUzxmhC4/O3BpfV5ILh43MSMrC7vabXnBJExE=");
}
