// Validates Adaptive Cards with Microsoft's own library: reads a JSON array of cards on stdin,
// writes one array of validation events per card ("DuplicateId: ...").
const path = require("path");
const modules = process.env.ADAPTIVECARDS_NODE_MODULES;
const AC = require(path.join(modules, "adaptivecards", "dist", "adaptivecards.js"));
let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((json) => {
    const card = new AC.AdaptiveCard();
    card.parse(json, new AC.SerializationContext());
    return card.validateProperties().validationEvents.map((e) => AC.ValidationEvent[e.event] + ": " + e.message);
  });
  process.stdout.write(JSON.stringify(out));
});
