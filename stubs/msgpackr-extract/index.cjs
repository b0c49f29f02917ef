// msgpackr requires this optionally and uses it only when it exports something.
module.exports = null;
