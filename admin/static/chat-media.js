/* 网格通 · what the web chat shows for an attachment. Loaded by chat.html before chat.js; pure (no DOM),
 * so the tests run it under Node.
 *
 * A photo is loaded as an image only from our own media URLs (/chat/media/<digest>.<ext>, stored after
 * their bytes were checked). Any other address — another site's image, a platform's file id — would
 * make every viewer's browser fetch it when the transcript is shown: a tracking pixel that tells its
 * owner who read the chat, when and from where. Such a photo is shown as a link the reader may choose
 * to follow (http and https only, opened without a referrer) or as a plain label.
 */
(function (root) {
  'use strict';

  var OWN_MEDIA = /^\/chat\/media\/[0-9a-f]{32}\.(jpg|png|webp|gif)$/;
  var WEB_LINK = /^https?:\/\/[^\s]+$/i;
  var BULLETIN_PDF = /^\/admin\/bulletins\/\d+\/pdf$/;  // the monthly bulletin's PDF (officers sign in to read it)

  function view(a) {
    if (!a || typeof a !== 'object') return { kind: 'text', text: '[附件]' };
    var url = typeof a.url === 'string' ? a.url : '';
    if (a.kind === 'image') {
      if (OWN_MEDIA.test(url)) return { kind: 'image', url: url };
      if (WEB_LINK.test(url)) return { kind: 'link', url: url, text: '[图片链接] ' + url };
      return { kind: 'text', text: '[图片]' };
    }
    if (a.kind === 'location') {
      var where = a.label || (Number(a.lat).toFixed(5) + ', ' + Number(a.lng).toFixed(5));
      return { kind: 'text', text: '位置：' + where };
    }
    if (a.kind === 'file' && BULLETIN_PDF.test(url)) {
      return { kind: 'link', url: url, text: '[PDF] ' + (typeof a.name === 'string' && a.name ? a.name : '下载') };
    }
    return { kind: 'text', text: '[附件]' };
  }

  var api = { view: view };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.GridbotMedia = api;
})(this);
