// A Secret owns its value's registration with the log redactor: redacted while some Secret holds it,
// forgotten once none does.
#include <gtest/gtest.h>

#include <utility>

#include "common/log.h"
#include "common/secret.h"

using namespace etp2s;

namespace {

bool redacted(const std::string& value) {
  return log::redact("x " + value + " y") == "x [REDACTED] y";
}

}  // namespace

TEST(Secret, ItsValueIsRedactedForExactlyAsLongAsItLives) {
  const std::size_t before = log::registered_secret_count();
  {
    Secret s("lifetime-secret-1");
    EXPECT_TRUE(redacted("lifetime-secret-1"));
    EXPECT_EQ(log::registered_secret_count(), before + 1);
  }
  EXPECT_FALSE(redacted("lifetime-secret-1"));
  EXPECT_EQ(log::registered_secret_count(), before);
}

TEST(Secret, TheJsonEscapedSpellingComesAndGoesWithTheValue) {
  const std::size_t before = log::registered_secret_count();
  const std::string value = "quote\"back\\slash";
  const std::string escaped = "quote\\\"back\\\\slash";
  {
    Secret s(value);
    EXPECT_EQ(log::registered_secret_count(), before + 2);
    EXPECT_TRUE(redacted(escaped));
  }
  EXPECT_FALSE(redacted(escaped));
  EXPECT_FALSE(redacted(value));
  EXPECT_EQ(log::registered_secret_count(), before);
}

TEST(Secret, ACopyKeepsTheValueRedactedAfterTheOriginalIsGone) {
  auto original = std::make_unique<Secret>("copied-secret-22");
  Secret copy(*original);
  original.reset();
  EXPECT_TRUE(redacted("copied-secret-22"));
  Secret assigned;
  assigned = copy;
  copy = Secret();
  EXPECT_TRUE(redacted("copied-secret-22")) << "the copy-assigned Secret still holds it";
  assigned = Secret();
  EXPECT_FALSE(redacted("copied-secret-22"));
}

TEST(Secret, AMoveHandsTheRegistrationOverWithoutDroppingIt) {
  const std::size_t before = log::registered_secret_count();
  auto source = std::make_unique<Secret>("moved-secret-333");
  Secret target(std::move(*source));
  source.reset();  // the moved-from Secret must not release what it no longer holds
  EXPECT_TRUE(redacted("moved-secret-333"));
  Secret assigned;
  assigned = std::move(target);
  EXPECT_TRUE(redacted("moved-secret-333"));
  EXPECT_EQ(log::registered_secret_count(), before + 1);
  assigned = Secret();
  EXPECT_FALSE(redacted("moved-secret-333"));
  EXPECT_EQ(log::registered_secret_count(), before);
}

TEST(Secret, TwoIndependentHoldersOfOneValueAreCounted) {
  Secret first("same-value-4444");
  { Secret second("same-value-4444"); }
  EXPECT_TRUE(redacted("same-value-4444")) << "dropping one holder must not unredact the other's value";
}

TEST(Secret, AssigningANewValueForgetsTheOldOne) {
  Secret token("token-generation-1");
  token = Secret("token-generation-2");
  EXPECT_FALSE(redacted("token-generation-1"));
  EXPECT_TRUE(redacted("token-generation-2"));
  Secret other("token-generation-3");
  token = other;
  EXPECT_FALSE(redacted("token-generation-2"));
  EXPECT_TRUE(redacted("token-generation-3"));
}

TEST(Secret, SelfAssignmentKeepsTheValueRedacted) {
  Secret s("self-assigned-55");
  Secret& alias = s;
  s = alias;
  s = std::move(alias);
  EXPECT_EQ(s.reveal(), "self-assigned-55");
  EXPECT_TRUE(redacted("self-assigned-55"));
}
