import { decimalAmount, type PageLocale, type Strings } from './page-locale.js';

const strings: Strings = {
  languageNav: '語言',
  paymentSummary: '付款資訊',
  amountLabel: '金額',
  referenceLabel: '訂單編號',
  descriptionLabel: '品項',
  expiresLabel: '剩餘時間',
  loginHeading: '登入以付款',
  loginLabel: '登入帳號',
  loginHint: '您的電信業者提供的登入帳號。',
  loginFailed: '無法為此登入帳號啟動付款授權。',
  passwordHeading: '請輸入密碼',
  passwordIntro: '此金額需要輸入您的驗證密碼。',
  passwordLabel: '密碼',
  passwordFailed: '無法驗證此密碼。',
  submit: '繼續',
  callingHeading: '請接聽電話',
  calling: '我們正在撥打您尾號 …{ending} 的電話，請接聽並輸入您的 PIN 碼。',
  callingKeepOpen: '通話結束前，請勿關閉此頁面。',
  refresh: '重新整理',
  progress: {
    waiting: '正在準備撥號…',
    dialing: '正在撥打您的電話…',
    ringing: '您的電話正在響鈴。',
    answered: '電話已接通。請聆聽語音後輸入 PIN 碼，再按 # 鍵。',
    busy: '您的電話忙線中。',
    no_answer: '電話無人接聽。',
    rejected: '電話遭到拒接。',
    failed: '無法撥通您的電話。',
    retryIn: '將於 {seconds} 秒後再次撥打。',
    pinOk: 'PIN 碼正確。',
    pinWrong: 'PIN 碼錯誤，請在通話中重新輸入。',
    pinLocked: 'PIN 碼錯誤次數過多。',
  },
  sentenceGap: '',
  result: {
    succeeded: '付款成功',
    declined: '付款遭拒',
    failed: '付款未完成',
    expired: '付款已逾時',
    canceled: '付款已取消',
    refunded: '付款已退款',
    partially_refunded: '付款已部分退款',
  },
  resultDetail: {
    succeeded: '{amount} 將列入您的電信帳單。',
    expired: '付款時限已過，未收取任何費用。',
    canceled: '{merchant} 已取消此筆付款，未收取任何費用。',
    refunded: '{merchant} 已將此筆付款退款。',
    declined: '未收取任何費用。',
    failed: '未收取任何費用。',
  },
  failure: {
    insufficient_funds: '您的預付餘額不足以支付此金額。',
    credit_limit_exceeded: '此金額超過您帳戶的剩餘信用額度。',
    consumer_declined: '您已在通話中拒絕此筆付款。',
    wrong_pin: 'PIN 碼未通過驗證。',
    no_input: '未輸入 PIN 碼。',
    consumer_locked: '您的帳戶已被鎖定，請聯絡您的電信業者。',
    consumer_unavailable: '此帳戶無法進行這筆付款。',
    call_limit_exceeded: '近期撥往此電話的付款確認次數過多，請稍後再試。',
    busy: '您的電話忙線中。',
    no_answer: '電話無人接聽。',
    call_failed: '無法撥通您的電話。',
    hung_up: '輸入 PIN 碼前通話已結束。',
    interrupted: '通話中斷。',
    media_timeout: '通話中斷：未收到您電話的聲音。',
    password_failed: '密碼未通過驗證。',
  },
  returnLink: '返回 {merchant}',
  returning: '即將帶您返回 {merchant}…',
  stepMoved: '此步驟已完成，以下是這筆付款目前的狀態。',
  notFoundTitle: '付款連結無效',
  notFound: '此付款連結無效。請確認連結，或向商家索取新的連結。',
  forbiddenTitle: '表單已失效',
  forbidden: '無法受理此表單。請重新載入頁面後再試一次。',
  reload: '重新載入頁面',
  tooManyTitle: '嘗試次數過多',
  tooMany: '嘗試次數過多，請稍後再試。',
  errorTitle: '發生錯誤',
  error: '請稍後再試一次。',
  payHeading: '付款給 {merchant}',
  payIntro: '接下來請以電信業者提供的登入帳號登入，再透過電話確認付款。',
  amountInputLabel: '金額（{currency}）',
  amountHint: '例如 {example}',
  amountInvalid: '請輸入正確的金額，例如 {example}。',
  textRefused: '{field}：含有控制字元或文字方向字元，請移除後再試一次。',
  amountTooLarge: '此金額超過允許的上限。',
  merchantUnavailable: '此商家目前無法收款。',
  doneHeadingUnverified: '付款結果未經驗證',
  doneUnverified: '無法驗證此付款結果，請商家查詢這筆付款。',
};

/** Currencies a Taiwanese reader names with "元" after the number: 新臺幣 150.00 元. */
const YUAN: Record<string, string> = { TWD: '新臺幣', CNY: '人民幣', HKD: '港幣' };

export const zhTW: PageLocale = {
  strings,
  /** 15000 TWD → "新臺幣 150.00 元"; other currencies by their Chinese name: "美元 0.05". */
  formatAmount(minor, currency) {
    const { value, digits } = decimalAmount(minor, currency);
    const number = new Intl.NumberFormat('zh-TW', digits).format(value);
    const yuan = YUAN[currency];
    if (yuan) return `${yuan} ${number} 元`;
    return `${new Intl.DisplayNames(['zh-TW'], { type: 'currency' }).of(currency) ?? currency} ${number}`;
  },
};
